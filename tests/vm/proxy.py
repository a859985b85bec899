"""A TCP relay whose link can be made slow and lossy: `make test-vm`'s stand-in for tc netem.

This machine's kernel has no netem qdisc, so a host's Redis traffic goes through this relay
(run in the bridge's namespace). The control file holds JSON such as
{"delay": 0.2, "jitter": 0.1, "loss": 0.05}: every chunk waits delay +- jitter seconds,
and with probability ``loss`` it waits a TCP retransmission timeout more (what a lost
segment costs a connection). Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from pathlib import Path

_RETRANSMIT = 0.3


class Link:
    def __init__(self, control: Path) -> None:
        self.control = control
        self.delay = self.jitter = self.loss = 0.0

    async def watch(self) -> None:
        while True:
            try:
                settings = json.loads(self.control.read_text() or "{}")
            except (OSError, ValueError):
                settings = {}
            self.delay = float(settings.get("delay", 0))
            self.jitter = float(settings.get("jitter", 0))
            self.loss = float(settings.get("loss", 0))
            await asyncio.sleep(0.5)

    def wait(self) -> float:
        wait = max(0.0, self.delay + random.uniform(-self.jitter, self.jitter))
        return wait + (_RETRANSMIT if random.random() < self.loss else 0.0)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link) -> None:
    try:
        while chunk := await reader.read(65536):
            pause = link.wait()
            if pause:
                await asyncio.sleep(pause)
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--control", type=Path, required=True)
    args = parser.parse_args()
    link = Link(args.control)
    target_host, target_port = args.target.rsplit(":", 1)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(target_host, int(target_port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, upstream_writer, link), pipe(upstream_reader, writer, link))

    host, port = args.listen.rsplit(":", 1)
    server = await asyncio.start_server(handle, host, int(port))
    asyncio.get_running_loop().create_task(link.watch())
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
