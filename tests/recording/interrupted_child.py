"""A recording that a test interrupts: `python interrupted_child.py CASSETTE MODE BASE_URL N`.

It records N slow chat completions into CASSETTE, printing `sent K` after each answer, then
`all sent`; it waits until the file CASSETTE.go exists (the rest of the scenario's work), marks
the recording complete, and prints `done` once the session has saved it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from harness.recording import MissContext, open_cassette


async def main(path: Path, mode: str, base_url: str, count: int) -> None:
    context = MissContext(scenario="interrupted", scenario_path="scenarios/interrupted.yaml")
    async with (
        open_cassette(path, mode, context=context) as session,
        httpx.AsyncClient(transport=session.transport, timeout=30) as client,
    ):
        for number in range(1, count + 1):
            body = {"model": "m", "messages": [{"role": "user", "content": f"slow 60 #{number}"}]}
            response = await client.post(f"{base_url}/chat/completions", json=body)
            response.raise_for_status()
            print(f"sent {number}", flush=True)
        print("all sent", flush=True)
        go = path.with_name(path.name + ".go")
        while not go.exists():
            await asyncio.sleep(0.02)
        session.mark_complete()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])))
