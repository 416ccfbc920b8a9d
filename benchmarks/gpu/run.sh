#!/usr/bin/env bash
# The GPU table of issue 12 in one run (< 8 minutes on one H200), from the repository root:
#   benchmarks/gpu/run.sh CARRY_DIR        (CARRY_DIR as written by benchmarks/gpu/prepare.sh)
# CARRY_DIR/site.tgz: spaCy, spacy-transformers, transformers 4.53.2 ... for Python 3.12;
# CARRY_DIR/beto/{vocab.txt,config.json}: BETO's; CARRY_DIR/texts.json: speed.py's text mix.
# Steps: install; build the BETO-shaped random BERT-base; sweep each variant's batch size on
# N_SWEEP texts; the table (a, a1, a+mp, b, b+mp, c, c+mp, d, d+mp, t, ts) at each one's best
# batch size on all texts, best of ROUNDS rounds within TABLE_S seconds; the mixed-precision
# probe. JSON and logs land in $OUT (default ./gpu-out).
# Smoke test without a GPU: GPU_ID=-1 TINY=1 N_SWEEP=60 N_TABLE=120 benchmarks/gpu/run.sh DIR
set -u
CARRY=${1:?usage: run.sh CARRY_DIR}
OUT=${OUT:-$PWD/gpu-out}
GPU_ID=${GPU_ID:-0}
N_SWEEP=${N_SWEEP:-1000}
N_TABLE=${N_TABLE:-0}
ROUNDS=${ROUNDS:-2}
TABLE_S=${TABLE_S:-200}
THREADS=${THREADS:-4}
SWEEP=${SWEEP:-"a=64,256,1024;a1=256,1024,2048;b=64,256,1024;c=1,16,64;d=4096,16384,65536"}
TABLE=${TABLE:-"a,a1,a+mp,b,b+mp,c,c+mp,d,d+mp,t,ts"}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$OUT/steps.log"; }
{ nvidia-smi -L; nproc; uptime; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
if [ -f "$CARRY/site.tgz" ]; then
  mkdir -p /tmp/gpu-site && tar -C /tmp/gpu-site -xzf "$CARRY/site.tgz" || exit 1
  export PYTHONPATH=/tmp/gpu-site/site
fi
# spacy_beto itself, with its entry points (the factories spacy.load looks up).
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/gpu-beto . \
  > "$OUT/install.log" 2>&1 || { cat "$OUT/install.log"; exit 1; }
export PYTHONPATH=/tmp/gpu-beto${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import spacy, spacy_transformers, transformers, spacy_beto, torch; \
print('spacy', spacy.__version__, 'transformers', transformers.__version__, 'torch', \
torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$OUT/env.txt"
stamp installed
WORK=/tmp/gpu-speed
mkdir -p "$WORK"
if [ -n "${TINY:-}" ]; then
  MODEL=(--overhead --vocab "$CARRY/beto/vocab.txt")
else
  MODEL=(--beto-dir "$CARRY/beto")
fi
COMMON=(--work-dir "$WORK" --texts "$CARRY/texts.json" --gpu-id "$GPU_ID" --threads "$THREADS")
timeout 240 python3 benchmarks/speed.py "${MODEL[@]}" "${COMMON[@]}" --limit "$N_SWEEP" \
  --variants "" --sweep "$SWEEP" --repeats 1 --chunks 2 --warmup 16 \
  --json "$OUT/sweep.json" > "$OUT/sweep.log" 2>&1
stamp "sweep rc=$?"; tail -30 "$OUT/sweep.log"
BEST=()
[ -f "$OUT/sweep.json" ] && BEST=(--best-from "$OUT/sweep.json")
timeout $((TABLE_S + 90)) python3 benchmarks/speed.py "${MODEL[@]}" "${COMMON[@]}" \
  --limit "$N_TABLE" --variants "$TABLE" "${BEST[@]}" --repeats "$ROUNDS" --chunks 4 \
  --warmup 32 --max-seconds "$TABLE_S" --json "$OUT/gpu.json" > "$OUT/gpu.log" 2>&1
stamp "table rc=$?"; tail -45 "$OUT/gpu.log"
MODEL_DIR=$(ls -d "$WORK"/beto-random "$WORK"/tiny-* 2>/dev/null | head -1)
timeout 90 python3 benchmarks/gpu/mp_probe.py "$MODEL_DIR" --gpu-id "$GPU_ID" \
  --threads "$THREADS" --n-texts "${N_PROBE:-300}" --texts "$CARRY/texts.json" --json "$OUT/mp_probe.json" > "$OUT/mp_probe.log" 2>&1
stamp "mp probe rc=$?"; tail -12 "$OUT/mp_probe.log"
