"""One module per scenario; each has `run(context) -> ScenarioResult`.

`SCENARIOS` is read by `secondlook bench --help`, so this module imports nothing heavy."""

SCENARIOS = {  # name -> module in bench.scenarios (imported only when run)
    "inference": "inference",
    "roofline": "roofline",
    "rescore": "rescore",
    "api": "api",
    "training": "training",
    "coldstart": "coldstart",
    "hostile": "hostile",
}
