// Free TCP ports for tests that start servers of their own (nats-server nodes, a compose cluster's
// published ports): picked by the kernel, all listeners open together so no port comes twice.
import { createServer, type Server } from "node:net"

/** `count` distinct ports free on `host` (0.0.0.0: free on every interface, as Docker publishes them). */
export const freePorts = async (count: number, host = "127.0.0.1"): Promise<Array<number>> => {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer()
          server.once("error", reject)
          server.listen(0, host, () => resolve(server))
        })
    )
  )
  const ports = servers.map((server) => {
    const address = server.address()
    return typeof address === "object" && address !== null ? address.port : 0
  })
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
  return ports
}
