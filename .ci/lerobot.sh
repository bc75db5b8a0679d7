#!/usr/bin/env bash
# LeRobot integration: ambientloss.adapters.lerobot against the real LeRobot Diffusion Policy.
#
# LeRobot 0.4.4 pins torch < 2.11, so it cannot share the main test venv (torch 2.13): it gets its own,
# outside the repository (LEROBOT_VENV, default ../lerobot-venv), reused when it already holds the pinned
# versions. pip's wheel cache is used as usual, so a rebuild downloads nothing it has seen before.
# A fresh install takes minutes and about 8 GB (the CUDA build of torch 2.9.1, which runs on CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${LEROBOT_VENV:-$(cd .. && pwd)/lerobot-venv}"
PYTHON="${PYTHON:-python3}"
PINS=(torch==2.9.1 torchvision==0.24.1 lerobot==0.4.4)
START=$SECONDS

took() { echo "   ... $(( SECONDS - $1 )) s"; }

echo "== lerobot venv ($VENV)"
t=$SECONDS
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
if "$VENV/bin/python" - "${PINS[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version

sys.exit(0 if all(version(name) == want for name, want in (p.split("==") for p in sys.argv[1:])) else 1)
PY
then
    echo "   ${PINS[*]} already installed"
else
    "$VENV/bin/python" -m pip install --quiet "${PINS[@]}"
fi
took $t

echo "== ambientloss (editable) and the test requirements"
t=$SECONDS
"$VENV/bin/python" -m pip install --quiet -e . pytest hypothesis
"$VENV/bin/python" -c "import lerobot, torch, ambientloss; print('   lerobot', lerobot.__version__, '| torch', torch.__version__, '| ambientloss', ambientloss.__version__)"
took $t

echo "== tests/adapters/with_lerobot (the adapter, its LeRobot internals, save and reload, examples/lerobot_train.py)"
t=$SECONDS
"$VENV/bin/python" -m pytest -q tests/adapters/with_lerobot -p no:randomly
took $t
echo "== total: $(( SECONDS - START )) s"
