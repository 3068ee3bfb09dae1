import * as fs from "fs";
import * as path from "path";

/** The project folder (the one holding Pulumi.yaml), found upward from a running file: sources or dist/. */
export function projectDir(from = __dirname): string {
  for (let d = from; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, "Pulumi.yaml"))) return d;
    if (path.dirname(d) === d) throw new Error(`no Pulumi.yaml found above ${from}; give --dir <project dir>`);
  }
}
