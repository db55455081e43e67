// The first line of every file `coral connect` writes: the CLI renders it, the store recognises it (apart, so the CLI's fast path imports no parser).
export const DROP_IN_HEADER = '# Written by coral connect; edit or remove with coral disconnect.';
