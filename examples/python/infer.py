# A Python client of modelbus with nats-py, msgpack and numpy: tensors go as raw little-endian bytes
# (numpy's tobytes), replies come back as numpy arrays, typed errors as the NATS micro error headers.
#   pip install nats-py msgpack numpy
#   python3 examples/python/infer.py          (NATS_URL, default nats://127.0.0.1:4222; model iris)
import asyncio
import os
import sys

import msgpack
import nats
import numpy as np


def tensor(array):
    """A numpy array as modelbus reads it: dtype, shape, and the raw bytes as a msgpack bin."""
    return {"dtype": str(array.dtype), "shape": list(array.shape), "data": array.tobytes()}


def array(t):
    """A reply tensor as a numpy array (modelbus writes little-endian bytes)."""
    return np.frombuffer(t["data"], dtype=np.dtype(t["dtype"]).newbyteorder("<")).reshape(t["shape"])


async def infer(nc, model, inputs, timeout=5.0):
    """One inference; raises RuntimeError with the error's tag and message when modelbus refuses it."""
    msg = await nc.request(f"modelbus.infer.{model}", msgpack.packb({"inputs": tensor(inputs)}), timeout=timeout)
    if msg.headers and "Nats-Service-Error-Code" in msg.headers:
        error = msgpack.unpackb(msg.data)["error"]  # {"_tag": "BadInput", "message": …}
        raise RuntimeError(f"{msg.headers['Nats-Service-Error-Code']} {error['_tag']}: {error['message']}")
    reply = msgpack.unpackb(msg.data)
    return array(reply["outputs"]), reply["version"], reply["actor"]


async def main():
    nc = await nats.connect(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    try:
        flowers = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
        probabilities, version, actor = await infer(nc, "iris", flowers)
        print("species:", probabilities.argmax(axis=1).tolist(), "version", version, "from", actor)
        try:
            await infer(nc, "iris", np.zeros((1, 3), dtype=np.float32))  # Iris takes 4 measurements a row
        except RuntimeError as error:
            print("refused:", error, file=sys.stderr)
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
