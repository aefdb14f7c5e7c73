// The slices of Fly Machines API shapes Forge reads and writes (names as in the
// contract, shared/contracts/fly-machines-openapi.json). Fields Forge ignores are
// left out; everything read is optional because the API omits empty fields.

export interface FlyMachineCheckConfig {
  type: 'http' | 'tcp';
  port?: number;
  method?: string;
  path?: string;
  protocol?: string;
  interval?: string;
  timeout?: string;
  grace_period?: string;
}

export interface FlyMachinePort {
  port: number;
  handlers: string[];
  force_https?: boolean;
}

export interface FlyMachineService {
  protocol: 'tcp' | 'udp';
  internal_port: number;
  ports: FlyMachinePort[];
  /** The contract types it as a string enum; older API responses used booleans. */
  autostop?: 'off' | 'stop' | 'suspend' | boolean;
  autostart?: boolean;
  min_machines_running?: number;
  checks?: FlyMachineCheckConfig[];
}

export interface FlyMachineConfig {
  image: string;
  guest?: { cpu_kind?: string; cpus?: number; memory_mb?: number };
  env?: Record<string, string>;
  services?: FlyMachineService[];
  metadata?: Record<string, string>;
  restart?: { policy?: 'no' | 'always' | 'on-failure'; max_retries?: number };
  /** The command the machine runs instead of the image's (a one-shot release command). */
  init?: { cmd?: string[] };
  /** Destroy the machine once it exits (one-shot machines). */
  auto_destroy?: boolean;
}

export interface FlyMachineEvent {
  id?: string;
  type?: string;
  status?: string;
  source?: string;
  timestamp?: number;
  request?: Record<string, unknown>;
}

export interface FlyCheckStatus {
  name?: string;
  status?: string;
  output?: string;
}

export interface FlyMachine {
  id: string;
  name?: string;
  state?: string;
  region?: string;
  version?: string;
  instance_id?: string;
  private_ip?: string;
  updated_at?: string;
  config?: Partial<FlyMachineConfig>;
  checks?: FlyCheckStatus[];
  events?: FlyMachineEvent[];
}

export interface FlyOrgMachine {
  id: string;
  app_name?: string;
  state?: string;
  region?: string;
  version?: string;
  private_ip?: string;
  updated_at?: string;
  config?: { image?: string; guest?: FlyMachineConfig['guest']; metadata?: Record<string, string> };
}

export interface FlyOrgMachinesPage {
  machines?: FlyOrgMachine[];
  next_cursor?: string;
  last_machine_id?: string;
  last_updated_at?: string;
}

export interface FlyIpAssignment {
  ip?: string;
  shared?: boolean;
  region?: string;
}

export interface FlyApp {
  id?: string;
  name?: string;
  status?: string;
  organization?: { slug?: string };
}

export interface CreateMachineBody {
  config: FlyMachineConfig;
  region: string;
  name?: string;
  min_secrets_version?: number;
  skip_launch?: boolean;
}

export interface UpdateMachineBody {
  config: FlyMachineConfig;
  current_version?: string;
  min_secrets_version?: number;
  skip_launch?: boolean;
}
