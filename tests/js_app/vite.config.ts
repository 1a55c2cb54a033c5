import { defineConfig } from "vite";

// No plugin: Vite compiles the .tsx itself; React's automatic JSX runtime.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic" } },
  build: { sourcemap: false, minify: true },
});
