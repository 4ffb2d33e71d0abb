/** File-system errors as messages that name the path and say what is wrong in words. */

/** A file-system error as a sentence naming the path: missing, a symbolic-link loop, no permission, not a folder. */
export function describeFsError(path: string, e: unknown, what = 'file'): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return `${path}: no such ${what}`;
    case 'ELOOP':
      return `${path}: a loop of symbolic links (it resolves to itself); point it at a real ${what}`;
    case 'EACCES':
    case 'EPERM':
      return `${path}: permission denied (cannot read it)`;
    case 'ENOTDIR':
      return `${path}: a part of the path is a file, not a folder`;
    case 'EISDIR':
      return `${path}: a folder, expected a ${what}`;
    default:
      return `${path}: cannot read it (${(e as Error).message})`;
  }
}
