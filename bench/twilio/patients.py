"""The patients of the evening peak: each prompt's reply, sent by "Twilio" as a signed webhook to gunicorn.

Runs in its own process (asyncio, one connection per request as gunicorn's sync workers
want), so that its own CPU and GIL do not sit in the fake Twilio server that receives the
prompts. The bench process tells it each prompt Twilio accepted (the phone and when); it
answers as patients do, after a delay drawn in **simulated** minutes and played
`compress` times faster (`--compress 20`: a simulated minute lasts 3 s), except the first
`real_minutes` of the evening, which play in real time (`--real-minutes 16`: the prompts, the
replies most patients send within 10 minutes and the outage as they happen, then the replies
hours later compressed):

- 60% within 10 minutes (exponential, mean 3 minutes, at most 10), then 70% of them
  the 8 sleep answers in one text a minute or two after the sleep question came back;
- 10% the same, but a wrong answer first ("12" on the 0-10 scale: refused and asked again);
- 15% hours later (1 to 2 simulated hours), the same two texts;
- 15% never.

A patient sends the next text only after the reply to the previous one came back, as a
person would: a text lost in the outage, or whose webhook got no answer within Twilio's
15 s, ends that patient's evening. Every text is put in
Twilio's message log (the bench's fake server) before its webhook is tried, as Twilio logs
it before calling us. During the outage (`outage` simulated minutes from the peak's
start, 10 minutes long) the webhook is not delivered: the text stays only in the log.

Beside the patients, while dispatch runs, probes at a fixed rate on the same gunicorn:
the trivial view and the webhook floor (bench/webhook/floor.py), latency from the
scheduled send time, for the same-run floor under the same load.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

INBOUND = "/sms/twilio/inbound/"
FLOOR = "/bench/floor/"
OUR_NUMBER = "+13125550100"
TIMEOUT = 15.0  # seconds Twilio waits for a webhook's answer


@dataclass
class Setup:
    port: int
    public_base: str  # what the app signs over (PUBLIC_BASE_URL)
    token: str
    account: str
    compress: float  # simulated seconds per real second, after the first real_minutes
    start: float  # time.time() of the peak's start (the prompts' due time)
    outage_at: float  # simulated minutes after the start
    outage_minutes: float
    probe_rate: float  # requests a second of each probe while dispatch runs
    replies: bool = True  # False: nobody answers (dispatch alone)
    seed: int = 17
    real_minutes: float = 0.0  # the first simulated minutes after the start, played in real time

    def real_at(self, simulated_minutes: float) -> float:
        """time.time() of the instant this many simulated minutes after the start."""
        early = min(simulated_minutes, self.real_minutes)
        return self.start + early * 60 + (simulated_minutes - early) * 60 / self.compress

    def simulated(self, at: float) -> float:
        """Simulated minutes after the start of the real instant `at` (time.time())."""
        seconds = at - self.start
        if seconds <= self.real_minutes * 60:
            return seconds / 60
        return self.real_minutes + (seconds - self.real_minutes * 60) * self.compress / 60

    def outage(self) -> tuple[float, float]:
        """time.time() of the outage's start and end."""
        return self.real_at(self.outage_at), self.real_at(self.outage_at + self.outage_minutes)


class Requests:
    def __init__(self, setup: Setup):
        self.setup = setup
        self.validator = RequestValidator(setup.token)
        self.n = 0

    def raw(self, path: str, params: dict | None) -> bytes:
        port = self.setup.port
        if params is None:
            return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
        form = urlencode(params).encode()
        signature = self.validator.compute_signature(self.setup.public_base + path, params)
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Twilio-Signature: {signature}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(form)}\r\nConnection: close\r\n\r\n")
        return head.encode() + form

    def text(self, phone: str, body: str, sid: str | None = None) -> tuple[str, dict]:
        self.n += 1
        sid = sid or "SM" + uuid.uuid4().hex
        return sid, {"MessageSid": sid, "AccountSid": self.setup.account, "From": phone, "To": OUR_NUMBER,
                     "Body": body, "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
                     "ApiVersion": "2010-04-01", "FromCountry": "US"}

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """One request on its own connection; (HTTP status, body)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.setup.port)
        writer.write(raw)
        response = await reader.read()
        writer.close()
        head, _, body = response.partition(b"\r\n\r\n")
        return int(head[9:12] or 0), body


    async def status(self, path: str, params: dict | None) -> int | str:
        """The HTTP status of one request, or "timeout" after Twilio's 15 s (the text stays in its
        log; we may still handle it), or the connection's error."""
        try:
            status, _ = await asyncio.wait_for(self.send(self.raw(path, params)), TIMEOUT)
        except TimeoutError:
            return "timeout"
        except OSError as exc:
            return f"error: {type(exc).__name__}"
        return status


async def closed_loop(setup: Setup, path: str, phones: list[str], seconds: float, connections: int = 16) -> list:
    """Requests back to back on `connections` connections for `seconds`: latencies (s)."""
    requests = Requests(setup)
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker(w):
        i = w
        while time.perf_counter() < stop:
            i += connections
            params = None if path.startswith("/health") else requests.text(phones[i % len(phones)], "5")[1]
            raw = requests.raw(path, params)
            t0 = time.perf_counter()
            status, _ = await requests.send(raw)
            if status != 200:
                raise SystemExit(f"{path}: HTTP {status}")
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker(w) for w in range(connections)))
    return latencies


def run(setup: Setup, prompts, logged, done, results_path: str) -> None:
    """The process: `prompts` gives (phone, time accepted) per prompt, then None; `logged`
    takes (sid, phone, body, time sent) of every text for Twilio's log; `done` is set when
    dispatch has finished (the probes stop)."""
    os.setsid()  # its own process group: the bench reads its CPU time apart
    asyncio.run(Patients(setup, logged, done).main(prompts, results_path))


class Patients:
    def __init__(self, setup: Setup, logged, done):
        self.setup, self.logged, self.done = setup, logged, done
        self.requests = Requests(setup)
        self.texts: list[dict] = []
        self.probes: dict[str, list] = {"trivial": [], "floor": []}
        self.phones: list[str] = []
        self.answered: set[str] = set()

    def later(self, at: float, simulated_minutes: float) -> float:
        """time.time() this many simulated minutes after the real instant `at`."""
        return self.setup.real_at(self.setup.simulated(at) + simulated_minutes)

    def in_outage(self, at: float) -> bool:
        start, end = self.setup.outage()
        return start <= at < end

    async def main(self, prompts, results_path: str) -> None:
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task] = []
        finished = asyncio.Event()

        def read():
            for item in iter(prompts.get, None):
                loop.call_soon_threadsafe(lambda item=item: tasks.append(loop.create_task(self.patient(*item))))
            loop.call_soon_threadsafe(finished.set)

        threading.Thread(target=read, daemon=True).start()
        probes = [loop.create_task(self.probe("trivial", "/health/")), loop.create_task(self.probe("floor", FLOOR))]
        await finished.wait()
        await asyncio.gather(*tasks, *probes)
        with open(results_path, "w") as f:
            json.dump({"texts": self.texts, "probes": self.probes}, f)

    async def patient(self, phone: str, accepted: float) -> None:
        if phone in self.answered:
            return  # a reply of ours (a reconciled text's answer): the patient answers the prompt only
        self.answered.add(phone)
        self.phones.append(phone)
        rng = random.Random(f"{self.setup.seed}:{phone}")
        kind = rng.choices(["soon", "wrong_first", "hours", "never"], [60, 10, 15, 15])[0]
        if kind == "never" or not self.setup.replies:
            return
        delay = rng.uniform(60, 120) if kind == "hours" else min(10.0, rng.expovariate(1 / 3))
        bodies = (["12"] if kind == "wrong_first" else []) + [str(rng.randint(0, 10))]
        if rng.random() < 0.7:
            bodies.append(" ".join(str(rng.randint(1, 5)) for _ in range(8)))
        at = self.later(accepted, delay + 0.1)
        for body in bodies:
            if not await self.text(phone, body, at, kind):
                return  # no answer came back: the patient waits (the outage ends this evening's talk)
            at = self.later(max(time.time(), at), rng.uniform(0.5, 2))

    async def text(self, phone: str, body: str, at: float, kind: str) -> bool:
        await asyncio.sleep(max(0.0, at - time.time()))
        sent = time.time()
        sid, params = self.requests.text(phone, body)
        self.logged.put((sid, phone, body, sent))  # Twilio logs the text before it calls the webhook
        row = {"sid": sid, "phone": phone, "body": body, "kind": kind, "at": sent}
        self.texts.append(row)
        if self.in_outage(sent):
            row["status"] = "outage"
            return False
        status = await self.requests.status(INBOUND, params)
        row["ms"] = (time.time() - sent) * 1000
        row["status"] = status
        return status == 200

    async def probe(self, name: str, path: str) -> None:
        """Open loop at probe_rate while dispatch runs; latency from the scheduled send time."""
        if self.setup.probe_rate <= 0:
            return
        await asyncio.sleep(max(0.0, self.setup.start - time.time()))
        begun = time.perf_counter()
        pending = []
        i = 0
        while not self.done.is_set():
            i += 1
            scheduled = begun + i / self.setup.probe_rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            if path == FLOOR and not self.phones:
                continue
            params = None if path == "/health/" else self.requests.text(rng_phone(self.phones, i), "5")[1]
            pending.append(asyncio.ensure_future(self._probe_one(name, path, params, scheduled)))
        await asyncio.gather(*pending)

    async def _probe_one(self, name, path, params, scheduled) -> None:
        status = await self.requests.status(path, params)
        self.probes[name].append({"ms": (time.perf_counter() - scheduled) * 1000, "status": status,
                                  "at": time.time()})


def rng_phone(phones: list[str], i: int) -> str:
    return phones[(i * 7919) % len(phones)]
