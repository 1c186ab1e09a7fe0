#!/usr/bin/env node
// The `modelbus` command's entry point: turns on Node's compile cache (Node >= 22.1; a no-op before)
// before anything else loads, then runs the command tree of program.ts.
import module from "node:module"

;(module as { enableCompileCache?: () => unknown }).enableCompileCache?.()
await import("./program.js")
