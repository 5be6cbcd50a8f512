"""Make the constraints files of this folder with the SageMaker SDK's own classes.

Not run by the tests (the SDK's dependencies conflict with the test extras'): run it by hand
after `pip install sagemaker-core` (2.27.0 made the files here), from the repository root:

    python tests/data/sagemaker_sdk/generate.py

The baseline is ours (`create_baseline` on a three-column CSV: y, color, n); the SDK edits its
constraints.json exactly as a user's notebook would: `Constraints(...).set_monitoring(...)`, then
the body that `Constraints.save()` uploads, `json.dumps(body_dict)`. This SDK writes a feature's
override as `features[i].monitoring_config_overrides`; SDK 2.x wrote it under
`features[i].string_constraints.monitoring_config_overrides` (string features only), and AWS's
schema page spells it `monitoringConfigOverrides`: the tests derive those two from these files.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from sagemaker.core.model_monitor import Constraints

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from analyzer.commands.baseline import create_baseline  # noqa: E402


def sdk_constraints(body: dict[str, object], *edits: tuple[bool, str | None]) -> str:
    constraints = Constraints(body, "s3://bucket/baseline/constraints.json")
    for enable, feature in edits:
        constraints.set_monitoring(enable, feature_name=feature)
    return json.dumps(constraints.body_dict)  # what Constraints.save() uploads


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        rows = [f"{i % 7 / 10},{('red', 'green', 'blue')[i % 3]},{i % 10}" for i in range(300)]
        (folder / "train.csv").write_text("y,color,n\n" + "\n".join(rows) + "\n")
        create_baseline(str(folder / "train.csv"), str(folder))
        (HERE / "statistics.json").write_bytes((folder / "statistics.json").read_bytes())
        body = json.loads((folder / "constraints.json").read_text())
    (HERE / "constraints.json").write_text(json.dumps(body))
    # One feature off: only the SDK's feature-level call.
    (HERE / "constraints-color-disabled.json").write_text(sdk_constraints(body, (False, "color")))
    # The file's checks off, one feature back on.
    (HERE / "constraints-only-color.json").write_text(
        sdk_constraints(body, (False, None), (True, "color"))
    )
    (HERE / "constraints-n-disabled.json").write_text(sdk_constraints(body, (False, "n")))


if __name__ == "__main__":
    main()
