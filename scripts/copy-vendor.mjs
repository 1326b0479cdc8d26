// Copies the built files of the npm front-end libraries into static/vendor/ (not committed).
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";

const root = join(dirname(new URL(import.meta.url).pathname), "..");
const target = join(root, "static", "vendor");

const files = {
  "bootstrap/dist/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
  "bootstrap/dist/css/bootstrap.min.css.map": "bootstrap/bootstrap.min.css.map",
  "bootstrap/dist/js/bootstrap.bundle.min.js": "bootstrap/bootstrap.bundle.min.js",
  "bootstrap/dist/js/bootstrap.bundle.min.js.map": "bootstrap/bootstrap.bundle.min.js.map",
  "bootstrap-icons/font/bootstrap-icons.min.css": "bootstrap-icons/bootstrap-icons.min.css",
  "bootstrap-icons/font/fonts": "bootstrap-icons/fonts",
  "htmx.org/dist/htmx.min.js": "htmx/htmx.min.js",
  "sortablejs/Sortable.min.js": "sortablejs/Sortable.min.js",
  "chart.js/dist/chart.umd.min.js": "chart.js/chart.umd.min.js",
  "chart.js/dist/chart.umd.min.js.map": "chart.js/chart.umd.min.js.map",
};

rmSync(target, { recursive: true, force: true });
for (const [from, to] of Object.entries(files)) {
  mkdirSync(dirname(join(target, to)), { recursive: true });
  cpSync(join(root, "node_modules", from), join(target, to), { recursive: true });
}
console.log(`Copied ${Object.keys(files).length} front-end assets to static/vendor/`);
