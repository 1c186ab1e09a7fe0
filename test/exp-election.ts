import { jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { connect } from "@nats-io/transport-node"
import { startLocalCluster } from "./helpers/localCluster.js"

const cluster = await startLocalCluster()
const leader = await cluster.metaLeader()
console.log("meta leader", leader)
const other = [0, 1, 2].filter((i) => i !== leader)
const nc = await connect({ servers: [cluster.urls[other[0]!]!], timeout: 2000 })
const kv = await new Kvm(nc).create("exp", { replicas: 3, history: 5 })
await kv.put("a", "1")
console.log("info", JSON.stringify(nc.info?.connect_urls), nc.info?.cluster)
await cluster.kill(leader!)
const t0 = performance.now()
for (let i = 0; i < 40; i++) {
  const at = Math.round(performance.now() - t0)
  const r: Array<string> = []
  try {
    await (await jetstreamManager(nc, { timeout: 1000 })).getAccountInfo()
    r.push("acct ok")
  } catch (e) {
    r.push(
      `acct ERR ${(e as Error).name}: ${(e as Error).message} ${JSON.stringify((e as any).api_error ?? (e as any).code ?? "")}`
    )
  }
  try {
    const kv2 = await new Kvm(nc).open("exp")
    await kv2.put("a", String(i), {})
    r.push("put ok")
  } catch (e) {
    r.push(
      `put ERR ${(e as Error).name}: ${(e as Error).message} ${JSON.stringify((e as any).api_error ?? (e as any).code ?? "")}`
    )
  }
  console.log(at, r.join(" | "), JSON.stringify(nc.info?.connect_urls))
  if (i === 20) {
    await cluster.kill(other[1]!)
    console.log("killed second", other[1])
  }
  await new Promise((r) => setTimeout(r, 250))
}
await nc.close()
await cluster.stop()
