// Which names in the config directory are drop-ins, and which are editor, package-manager, temp or lock files.
//
// One list for the loader, the watcher and the writer: hidden files, `~` backups,
// `.swp`/`.swx`/`.swo`, `.tmp`, `.#*`, `.dpkg-*`, `.rpmnew`/`.rpmsave`/`.rpmorig`, `.lock`,
// `.bak`/`.orig`; only `*.yaml`/`*.yml` count as drop-ins. Changes to the
// Kubernetes ConfigMap layout (`..data`, `..2024_01_02_03_04_05.123`) are not ignored, because a ConfigMap update
// is exactly an atomic swap of the `..data` symlink.

const CONFIGMAP_DATA = '..data';
const CONFIGMAP_TIMESTAMP_DIR = /^\.\.\d{4}_/;
const IGNORED_SUFFIX = /(?:~|\.swp|\.swx|\.swo|\.tmp|\.lock|\.rpmnew|\.rpmsave|\.rpmorig|\.bak|\.orig|\.dpkg-[A-Za-z]+)$/;
const DROP_IN_SUFFIX = /\.ya?ml$/;

/** `..data` or a `..<timestamp>` directory of a mounted Kubernetes ConfigMap. */
export function isConfigMapEntry(name: string): boolean {
  return name === CONFIGMAP_DATA || CONFIGMAP_TIMESTAMP_DIR.test(name);
}

/** True for names whose changes never mean "the configuration changed". */
export function isIgnoredName(name: string): boolean {
  if (isConfigMapEntry(name)) return false;
  // Hidden files cover vim swap files (`.x.yaml.swp`), emacs locks (`.#x.yaml`), the
  // lock dir `.coral.lock`, and the ConfigMap writer's own `..data_tmp`.
  if (name.startsWith('.')) return true;
  return IGNORED_SUFFIX.test(name);
}

/** True for names the loader reads as drop-ins (`*.yaml`, `*.yml`, not ignored). */
export function isDropInName(name: string): boolean {
  return !isIgnoredName(name) && DROP_IN_SUFFIX.test(name);
}
