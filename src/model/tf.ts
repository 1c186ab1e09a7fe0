// TensorFlow.js as the model loader uses it, one `tf` namespace: tfjs-core with Layers and Graph model
// loading, without the @tensorflow/tfjs union package (its WebGL backend and tfjs-data only slow the start).

export { type GraphModel, loadGraphModel } from "@tensorflow/tfjs-converter"
export * from "@tensorflow/tfjs-core"
export { type LayersModel, loadLayersModel } from "@tensorflow/tfjs-layers"
