// Command-line helpers shared by the benchmark scripts: `--name value` options, flags, and
// progress lines on stderr (stdout is kept for --json output).
export function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
export const flag = (name: string): boolean => process.argv.includes(name);
export const say = (s: string): void => void process.stderr.write(s + '\n');
