"""The "what Python can do" baseline: a keep-alive HTTP/1.1 proxy in asyncio streams on uvloop.

Content-Length framing only, a pool of upstream connections, no limits, no capture, no metrics:
the least a Python proxy must do per request, for bench/cpu_cost.py to set the sidecar against.
Run: `python bench/mini_proxy.py --port 8081 --upstream-port 8080`.
"""

import argparse
import asyncio

import uvloop

Pair = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def read_message(reader: asyncio.StreamReader) -> bytes:
    """One request or response, head and Content-Length body, as the bytes that came in."""
    head = await reader.readuntil(b"\r\n\r\n")
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return head
    length = int(head[at + 17 : head.index(b"\r\n", at + 2)])
    return head + await reader.readexactly(length)


async def serve(port: int, upstream_port: int) -> None:
    pool: list[Pair] = []

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await read_message(reader)
                upstream = (
                    pool.pop()
                    if pool
                    else await asyncio.open_connection("127.0.0.1", upstream_port)
                )
                upstream[1].write(request)
                response = await read_message(upstream[0])
                pool.append(upstream)
                writer.write(response)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", port, backlog=1024)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.upstream_port))


if __name__ == "__main__":
    main()
