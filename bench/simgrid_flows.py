"""Run a flow set with SimGrid (CM02 max-min, no cross-traffic) for bench/engine.py.

Runs under the *system* python3 (Debian's python3-simgrid), standard library only:

    /usr/bin/python3 bench/simgrid_flows.py flows.json out.json

``flows.json``: {"hosts": N, "links": [[id, bandwidth_bytes_per_s], ...],
                 "flows": [[src, dst, size_bytes, [link ids in order]], ...]}
Every link is a one-way resource (each directed edge of the scaleup fabric becomes its own SimGrid link),
latencies are zero and the TCP window bound is off, so SimGrid's CM02 solves the same max-min problem as
scaleup's engine. Writes {"finish": [...], "load_s": ..., "run_s": ..., "total_s": ...}.
"""

import json
import sys
import time

t0 = time.time()
import simgrid  # noqa: E402
from simgrid import Comm, Engine, LinkInRoute, NetZone  # noqa: E402


def main() -> None:
    spec = json.load(open(sys.argv[1]))
    e = Engine(["simgrid_flows", "--cfg=network/model:CM02", "--cfg=network/crosstraffic:0",
                "--cfg=network/TCP-gamma:0", "--log=root.thres:critical"])
    zone = NetZone.create_full_zone("fabric")
    hosts = [zone.create_host(f"h{i}", 1e9) for i in range(spec["hosts"])]
    links = {}
    for lid, bw in spec["links"]:
        lk = zone.create_link(f"l{lid}", float(bw))
        lk.set_latency(0.0)
        links[lid] = lk.seal()
    seen = set()
    for s, d, _, path in spec["flows"]:
        if (s, d) in seen:
            continue
        seen.add((s, d))
        zone.add_route(hosts[s].netpoint, hosts[d].netpoint, None, None,
                       [LinkInRoute(links[x]) for x in path], False)
    zone.seal()
    finish = [0.0] * len(spec["flows"])
    t_load = time.time()

    def sender() -> None:
        comms = [Comm.sendto_async(hosts[s], hosts[d], int(size)) for s, d, size, _ in spec["flows"]]
        Comm.wait_all(comms)
        for i, c in enumerate(comms):
            finish[i] = c.finish_time

    hosts[0].add_actor("sender", sender) if hasattr(hosts[0], "add_actor") else simgrid.Actor.create(
        "sender", hosts[0], sender)
    e.run()
    t_end = time.time()
    json.dump({"finish": finish, "load_s": t_load - t0, "run_s": t_end - t_load, "total_s": t_end - t0},
              open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
