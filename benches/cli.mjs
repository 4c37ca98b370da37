// The benches' command lines: `--name` flags and `--name value` options.

/** Reads `args` (process.argv.slice(2)): `flag('quick')`, `option('rounds', 5)`. */
export function cli(args) {
  const flag = (name) => args.includes(`--${name}`);
  const option = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : fallback;
  };
  return { flag, option };
}
