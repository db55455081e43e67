// Which names in services.d are drop-ins, and which are editor, package-manager, temp or lock files to ignore.

const IGNORED_SUFFIXES = ['~', '.swp', '.swx', '.swo', '.tmp', '.rpmnew', '.rpmsave', '.rpmorig', '.lock', '.bak', '.orig'];

/** Hidden files (incl. `.#emacs` locks and the ConfigMap `..data` dirs), backups, temp and lock files. */
export function isIgnoredName(name: string): boolean {
  if (name.startsWith('.')) return true;
  if (/\.dpkg-[a-z]+$/.test(name)) return true;
  return IGNORED_SUFFIXES.some((suffix) => name.endsWith(suffix));
}

/** A drop-in: `*.yaml` or `*.yml`, not ignored. */
export function isDropInName(name: string): boolean {
  return !isIgnoredName(name) && /\.ya?ml$/.test(name);
}
