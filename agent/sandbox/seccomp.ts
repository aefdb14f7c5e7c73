// The seccomp filter every build and app runs under, as the OCI runtime's JSON
// (the runtime compiles it with libseccomp: no hand-written BPF here).
//
// A deny list on top of "allow": the user namespace, the empty capability sets
// and no_new_privs already refuse most privileged calls; this closes what an
// unprivileged process could still reach through them — making a nested user
// namespace (which hands back capabilities inside it, and with them mount and
// unmount of /proc masks), loading kernel code (bpf, modules, kexec), keyrings
// shared with the host, ptrace, perf and userfaultfd (common exploit helpers).

export interface SeccompRule {
  names: string[];
  action: 'SCMP_ACT_ERRNO';
  errnoRet: number;
  args?: { index: number; value: number; valueTwo: number; op: 'SCMP_CMP_MASKED_EQ' }[];
}

export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ALLOW';
  architectures: string[];
  syscalls: SeccompRule[];
}

const EPERM = 1;
const ENOSYS = 38;

/** Calls refused outright (EPERM). Names the kernel lacks on an architecture are skipped by libseccomp. */
export const DENIED_SYSCALLS = [
  // new namespaces and joining others'
  'unshare', 'setns',
  // mounts, old and new API
  'mount', 'umount', 'umount2', 'pivot_root', 'chroot', 'mount_setattr', 'move_mount', 'open_tree',
  'fsopen', 'fsconfig', 'fsmount', 'fspick',
  // kernel code and kernel state
  'init_module', 'finit_module', 'delete_module', 'kexec_load', 'kexec_file_load', 'bpf', 'create_module',
  'reboot', 'swapon', 'swapoff', 'acct', 'syslog', 'quotactl', 'quotactl_fd', 'nfsservctl', 'uselib', '_sysctl',
  'settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex', 'iopl', 'ioperm', 'lookup_dcookie', 'vm86', 'vm86old',
  // keyrings, tracing, exploit helpers
  'add_key', 'request_key', 'keyctl', 'ptrace', 'process_vm_readv', 'process_vm_writev', 'perf_event_open',
  'userfaultfd', 'open_by_handle_at', 'name_to_handle_at', 'kcmp',
] as const;

/** CLONE_NEW* flags: clone() with any of them is refused like unshare(). */
export const CLONE_NAMESPACE_FLAGS = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
} as const;

const ARCHITECTURES: Record<string, string[]> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
};

export function seccompProfile(arch: string = process.arch): SeccompProfile {
  const syscalls: SeccompRule[] = [{ names: [...DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM }];
  // One rule per flag: libseccomp ANDs the conditions of one rule, ORs the rules.
  for (const flag of Object.values(CLONE_NAMESPACE_FLAGS)) {
    syscalls.push({
      names: ['clone'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: EPERM,
      args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
    });
  }
  // clone3 passes its flags in memory, where a filter cannot look: ENOSYS makes
  // libc fall back to clone(), which the rules above do see.
  syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: ARCHITECTURES[arch] ?? [], syscalls };
}
