// The console's build: hashed files under assets/ (served with a year's cache), index.html
// (never cached). The output goes where AIMASS_CONSOLE_OUT says (CMake: build/console).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: process.env.AIMASS_CONSOLE_OUT ?? "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 500,
    rolldownOptions: {
      // React Router marks its modules "use client" for server components; a browser bundle
      // has no use for the directive.
      onwarn(warning, warn) {
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
});
