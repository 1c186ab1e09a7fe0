// The Node.js flags an actor process starts with (a pure decision). An actor's live heap is small (about
// 20 MB: the runtime, the model's graph) while it moves large short-lived buffers (a batch chunk is up to 0.9 MB
// and the NATS client's parser grows a buffer to hold it). With V8's default first old-generation limit so
// close to that live size, every few chunks started a full mark-compact: a 100,000-row CNN job ran ~100 of
// them, a fifth of its core in V8's marking threads, and 25–35 % fewer rows/s. A first limit of 128 MB
// leaves those buffers to the young generation's scavenges; memory follows the live heap as before (the
// limit is a trigger, not a reservation). A heap size the user set in NODE_OPTIONS wins.

/** The first old-generation limit of an actor's V8 heap, in MB. */
export const ACTOR_INITIAL_HEAP_MB = 128

const HEAP_SIZE_FLAG = /--(initial|max)[-_](heap|old[-_]space)[-_]size/

/** Flags for `fork`'s execArgv: tsx when running from source, and the heap's first limit unless the user chose one. */
export const actorExecArgv = (runningFromSource: boolean, nodeOptions: string | undefined): ReadonlyArray<string> => [
  ...(runningFromSource ? ["--import", "tsx"] : []),
  ...(HEAP_SIZE_FLAG.test(nodeOptions ?? "") ? [] : [`--initial-heap-size=${ACTOR_INITIAL_HEAP_MB}`])
]
