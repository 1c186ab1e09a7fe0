// Loaded with `node --import` (through NODE_OPTIONS, so a supervisor's actors get it too): makes
// onnxruntime-node fail to load in this process, as it does on a platform it ships no binary for.
import { registerHooks } from "node:module"

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === "onnxruntime-node") {
      const error = new Error(
        "Cannot find module '../bin/napi-v6/linux/riscv64/onnxruntime_binding.node' (simulated by the test)\nRequire stack:\n- dist/index.js"
      )
      throw Object.assign(error, { code: "MODULE_NOT_FOUND" })
    }
    return nextResolve(specifier, context)
  }
})
