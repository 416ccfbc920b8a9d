#!/usr/bin/env bash
# The GPU table of issue 12 (phase 2) in one run (<= 6 minutes on one H200), from the repo root:
#   benchmarks/gpu/run.sh CARRY_DIR        (CARRY_DIR as written by benchmarks/gpu/prepare.sh)
# CARRY_DIR/site.tgz: spaCy, spacy-transformers, transformers 4.53.2 ... for Python 3.12;
# CARRY_DIR/beto/{vocab.txt,config.json}: BETO's; CARRY_DIR/texts.json: speed.py's text mix;
# CARRY_DIR/mini (optional): a trained mini pipeline for the fp32/bf16/fp16 agreement.
# Phases (each with its own timeout; JSON + $OUT/tables.md written after every phase, so a
# stopped run keeps what it measured):
#  1. install; build the BETO-shaped random BERT-base;
#  2. sweep batch sizes on N_SWEEP texts: a (new defaults), acpu (phase-1 defaults), b, c, d;
#  3. table at each one's best batch size on N_TABLE texts, best of ROUNDS: a (device defaults:
#     prefetch, no groups, 16k items), an (prefetch off), abf (bf16 encoder), ah (fp16),
#     acpu, b, b+mp, c, d, d+mp;
#  4. agreement of bf16/fp16 with fp32: trained mini (CARRY_DIR/mini) if carried, else the
#     random (a) (said so in the JSON);
#  5. mp_probe.py (why mixed_precision = true is slower; SKIP_PROBE=1 skips it);
#  6. PROFILE=an[,...]: cProfile of variants without prefetch (profile-*.json, N_PROFILE texts).
# SKIP_AGREE=1 skips phase 4.
# Smoke test without a GPU:
#   GPU_ID=-1 TINY=1 N_SWEEP=60 N_TABLE=120 TABLE_S=60 N_AGREE=100 benchmarks/gpu/run.sh DIR
set -u
CARRY=${1:?usage: run.sh CARRY_DIR}
OUT=${OUT:-$PWD/gpu-out}
GPU_ID=${GPU_ID:-0}
N_SWEEP=${N_SWEEP:-600}
N_TABLE=${N_TABLE:-2000}
N_AGREE=${N_AGREE:-2000}
ROUNDS=${ROUNDS:-2}
TABLE_S=${TABLE_S:-100}
THREADS=${THREADS:-4}
SWEEP=${SWEEP:-"a=256,1024;acpu=256,1024;atb=256,1024;b=256,1024;c=16,64;d=16384,65536"}
TABLE=${TABLE:-"a,an,abf,ah,acpu,atb,b,b+mp,c,d,d+mp"}
if [ "$GPU_ID" -lt 0 ]; then  # no +mp / bf16 rows on the CPU
  SWEEP=${SWEEP_CPU:-"a=64,256;acpu=64,256;atb=64,256;b=64,256;c=1,16;d=1024,4096"}
  TABLE=${TABLE_CPU:-"a,ap,an,abf,acpu,atb,b,c,d"}
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# At most 8 files come back from $OUT: steps.log (environment + steps), logs.txt (every
# phase's output), sweep.json, gpu.json, agreement.json, mp_probe.json, tables.md.
mkdir -p "$OUT"
LOG=$OUT/logs.txt
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$OUT/steps.log"; }
tables() { python3 benchmarks/gpu/tables.py "$OUT" || true; }
{ nvidia-smi -L; nproc; uptime; } > "$OUT/steps.log" 2>&1
cat "$OUT/steps.log"
if [ -f "$CARRY/site.tgz" ]; then
  mkdir -p /tmp/gpu-site && tar -C /tmp/gpu-site -xzf "$CARRY/site.tgz" || exit 1
  export PYTHONPATH=/tmp/gpu-site/site
fi
# spacy_beto itself, with its entry points (the factories spacy.load looks up).
rm -rf /tmp/gpu-beto  # a stale copy (an earlier run on the same machine) would shadow this tree
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/gpu-beto . \
  > /tmp/gpu-install.log 2>&1 || { cat /tmp/gpu-install.log; exit 1; }
export PYTHONPATH=/tmp/gpu-beto${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import spacy, spacy_transformers, transformers, spacy_beto, torch; \
print('spacy', spacy.__version__, 'transformers', transformers.__version__, 'torch', \
torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$OUT/steps.log"
stamp installed
WORK=/tmp/gpu-speed
mkdir -p "$WORK"
if [ -n "${TINY:-}" ]; then
  MODEL=(--overhead --vocab "$CARRY/beto/vocab.txt")
else
  MODEL=(--beto-dir "$CARRY/beto")
fi
COMMON=(--work-dir "$WORK" --texts "$CARRY/texts.json" --gpu-id "$GPU_ID" --threads "$THREADS")
timeout 120 python3 benchmarks/speed.py "${MODEL[@]}" "${COMMON[@]}" --limit "$N_SWEEP" \
  --variants "" --sweep "$SWEEP" --repeats 1 --chunks 2 --warmup 16 \
  --json "$OUT/sweep.json" > /tmp/gpu-phase.log 2>&1
rc=$?; cat /tmp/gpu-phase.log >> "$LOG"; stamp "sweep rc=$rc"; tail -25 /tmp/gpu-phase.log; tables
BEST=()
[ -f "$OUT/sweep.json" ] && BEST=(--best-from "$OUT/sweep.json")
# Variants of (a) without a sweep of their own run at a's best batch size.
A_BEST=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['best_batch_size'].get('a') or '')" "$OUT/sweep.json" 2>/dev/null)
if [ -n "$A_BEST" ]; then
  TABLE=$(echo "$TABLE" | sed -E "s/(^|,)(an|ap|abf|ah|agc|aup|aupgc)(,|$)/\1\2@$A_BEST\3/g; s/(^|,)(an|ap|abf|ah|agc|aup|aupgc)(,|$)/\1\2@$A_BEST\3/g")
fi
echo "table keys: $TABLE" | tee -a "$OUT/steps.log"
timeout $((TABLE_S + 50)) python3 benchmarks/speed.py "${MODEL[@]}" "${COMMON[@]}" \
  --limit "$N_TABLE" --variants "$TABLE" "${BEST[@]}" --repeats "$ROUNDS" --chunks 4 \
  --warmup 32 --max-seconds "$TABLE_S" --json "$OUT/gpu.json" > /tmp/gpu-phase.log 2>&1
rc=$?; cat /tmp/gpu-phase.log >> "$LOG"; stamp "table rc=$rc"; tail -40 /tmp/gpu-phase.log; tables
MODEL_DIR=$(ls -d "$WORK"/beto-random "$WORK"/tiny-* 2>/dev/null | head -1)
PRECS=bf16,fp16
[ "$GPU_ID" -lt 0 ] && PRECS=bf16
if [ -n "${SKIP_AGREE:-}" ]; then
  echo "agreement skipped (SKIP_AGREE)" > /tmp/gpu-phase.log
elif [ -d "$CARRY/mini" ]; then
  timeout 45 python3 benchmarks/gpu/agreement.py "$CARRY/mini" --texts "$CARRY/texts.json" \
    --n-texts "$N_AGREE" --gpu-id "$GPU_ID" --precisions "$PRECS" \
    --json "$OUT/agreement.json" > /tmp/gpu-phase.log 2>&1
else
  timeout 45 python3 benchmarks/gpu/agreement.py --random "$MODEL_DIR" --texts "$CARRY/texts.json" \
    --n-texts "$N_AGREE" --gpu-id "$GPU_ID" --precisions "$PRECS" \
    --json "$OUT/agreement.json" > /tmp/gpu-phase.log 2>&1
fi
rc=$?; cat /tmp/gpu-phase.log >> "$LOG"; stamp "agreement rc=$rc"; tail -6 /tmp/gpu-phase.log; tables
if [ "$GPU_ID" -ge 0 ] && [ -z "${SKIP_PROBE:-}" ]; then
  timeout 40 python3 benchmarks/gpu/mp_probe.py "$MODEL_DIR" --gpu-id "$GPU_ID" \
    --threads "$THREADS" --n-texts "${N_PROBE:-200}" --texts "$CARRY/texts.json" \
    --json "$OUT/mp_probe.json" > /tmp/gpu-phase.log 2>&1
  rc=$?; cat /tmp/gpu-phase.log >> "$LOG"; stamp "mp probe rc=$rc"; tail -12 /tmp/gpu-phase.log
fi
# cProfile of variants without prefetch (only the calling thread is profiled), e.g. PROFILE=an
for v in $(echo "${PROFILE:-}" | tr ',' ' '); do
  timeout 60 python3 benchmarks/profile_overhead.py --variant "$v" --model-dir "$MODEL_DIR" \
    --texts "$CARRY/texts.json" --n-texts "${N_PROFILE:-1000}" --batch-size "${A_BEST:-1024}" \
    --threads "$THREADS" --gpu-id "$GPU_ID" --top 25 --json "$OUT/profile-$v.json" \
    > /tmp/gpu-phase.log 2>&1
  rc=$?; cat /tmp/gpu-phase.log >> "$LOG"; stamp "profile $v rc=$rc"; grep -m1 "words/s" /tmp/gpu-phase.log
done
tables
stamp done
