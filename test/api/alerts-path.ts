// Where the Prometheus alert rules live. Not *.yml: `forge validate examples`
// reads every *.yaml/*.yml under examples/ as a service spec.
export const ALERT_RULES_FILE = new URL('../../examples/prometheus/alerts.rules', import.meta.url).pathname;
