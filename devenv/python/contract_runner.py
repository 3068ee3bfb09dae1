"""The shared runner of the contract scripts (sdk_contract.py, gitlab_contract.py, github_contract.py): each
declares its cases with `@case("METHOD /route")`, in order, against a world it builds from stdin; `run` prints the
routes (`--routes`) or one JSON entry per case: {"route", "ok": true, "value"} or {"route", "ok": false, "error"}.
Every case is run and reported, whatever an earlier one did (a later case may fail for an earlier one's reason)."""
import json
import sys


class Contract:
    def __init__(self):
        self.cases = []

    def case(self, route):
        def add(fn):
            self.cases.append((route, fn))
            return fn

        return add

    def run(self, make_world, skip=lambda route, world: None):
        """`skip(route, world)`: a reason not to run a case in this world (reported as a failure), or None."""
        if sys.argv[1:] == ["--routes"]:
            json.dump([r for r, _ in self.cases], sys.stdout)
            return
        world = make_world(json.load(sys.stdin))
        out = []
        for route, fn in self.cases:
            why = skip(route, world)
            if why:
                out.append({"route": route, "ok": False, "error": why})
                continue
            try:
                out.append({"route": route, "ok": True, "value": fn(world)})
            except Exception as e:  # noqa: BLE001 - every case is reported
                out.append({"route": route, "ok": False, "error": f"{type(e).__name__}: {str(e).split(' Config: ')[0]}"})
        json.dump(out, sys.stdout)


def need(cond, what):
    if not cond:
        raise AssertionError(what)
