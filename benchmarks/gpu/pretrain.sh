#!/usr/bin/env bash
# Pretraining pays? On a lent GPU machine (or a CPU, for a smoke test), from the repo root:
#
#   benchmarks/gpu/pretrain.sh OUTDIR DATADIR [PRETRAIN_SECONDS=180] [FINETUNE_SECONDS=240] [ARGS]
#
# DATADIR holds conll2002/esp.{train,testa} and emoevent-es/{train,dev}.tsv (a copy of
# ../shared/data). Builds the mini encoder as benchmarks/accuracy.py does, pretrains it for
# PRETRAIN_SECONDS of wall-clock (whole-word MLM, packed 128-piece sequences, bf16 on the GPU),
# then fine-tunes configs/mini.cfg from random vs pretrained weights (2 seeds each, equal steps,
# all at once on the one GPU, with spaCy's CNN NER beside them) within FINETUNE_SECONDS, and
# writes under OUTDIR: mini-pretrained/, pretrain-metrics.json, finetune-scores.json,
# table.md (benchmarks/pretrain_table.py), env.txt, run.log, logs/. ARGS go to
# benchmarks/pretrain_effect.py (e.g. --gpu-id -1 for the CPU; the last value given wins).
# Wheels in .gpu/whl/*.whl (py3.12: spaCy, spacy-transformers, cupy, ...), if present, are
# installed into /tmp/site first (no network); the working tree's spacy_beto is used either way.
set -u
if [ $# -lt 2 ]; then
  echo "usage: $0 OUTDIR DATADIR [PRETRAIN_SECONDS] [FINETUNE_SECONDS] [ARGS...]" >&2
  exit 2
fi
OUTDIR=$1 DATADIR=$2 PRETRAIN_S=${3:-180} FINETUNE_S=${4:-240}
shift $(( $# < 4 ? $# : 4 ))
PY=${PYTHON:-python3}
WORK=${WORK_DIR:-/tmp/pretrain-effect}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if compgen -G ".gpu/whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/whl/*.whl || exit 1
  export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
mkdir -p "$OUTDIR"
GPU=$("$PY" -c "import torch; print(0 if torch.cuda.is_available() else -1)" 2>/dev/null || echo -1)
{ "$PY" -c "import spacy, spacy_transformers, spacy_beto, torch; \
print('spacy', spacy.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
'spacy_beto from', spacy_beto.__file__)"; nproc; nvidia-smi -L 2>/dev/null || echo "no GPU"; } \
  > "$OUTDIR/env.txt" 2>&1
cat "$OUTDIR/env.txt"
"$PY" benchmarks/pretrain_effect.py --data-dir "$DATADIR" --work-dir "$WORK" --out "$OUTDIR" \
  --gpu-id "$GPU" --threads 3 --pretrain-seconds "$PRETRAIN_S" \
  --finetune-seconds "$FINETUNE_S" "$@" 2>&1 | tee "$OUTDIR/run.log"
status=${PIPESTATUS[0]}
"$PY" benchmarks/pretrain_table.py "$OUTDIR" > "$OUTDIR/table.md" 2>> "$OUTDIR/run.log"
cat "$OUTDIR/table.md"
exit "$status"
