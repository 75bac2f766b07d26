#!/usr/bin/env bash
# gpu-check.sh: on a host with an NVIDIA driver, check that `vramfit
# inventory` sees the GPUs as nvidia-smi does, then run the real-NVML test.
#
# For every GPU (in NVML index order, as both tools list them):
#   name, UUID           exactly equal;
#   memory total         exactly equal in MiB (nvidia-smi rounds down);
#   memory used          within USED_TOLERANCE_MIB (default 64 MiB), since
#                        the two tools read a few milliseconds apart and
#                        running processes allocate in between.
# It exits non-zero on any difference, or when either tool fails.
# Needs bash, go and nvidia-smi (no jq or python): the JSON is read with
# awk, relying on the two-space indentation `vramfit inventory` writes.
#
# INVENTORY_FLAGS (default empty) is added to the inventory command: with
# --nvml.fake and a stand-in nvidia-smi first in PATH, the comparison itself
# can be tried on a host without a GPU.
set -euo pipefail

cd "$(dirname "$0")/.."
tolerance=${USED_TOLERANCE_MIB:-64}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v nvidia-smi >/dev/null || { echo "gpu-check: nvidia-smi not found: this host has no NVIDIA driver" >&2; exit 1; }
export CGO_CFLAGS="${CGO_CFLAGS:--Wno-deprecated-declarations}"

echo "== build"
CGO_ENABLED=1 go build -o "$work/vramfit" ./cmd/vramfit

echo "== vramfit inventory --output json"
# shellcheck disable=SC2086 # INVENTORY_FLAGS holds several flags
"$work/vramfit" inventory --output json ${INVENTORY_FLAGS:-} >"$work/inventory.json"
echo "== nvidia-smi"
nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.used --format=csv,noheader,nounits >"$work/smi.csv"
cat "$work/smi.csv"

# One line per GPU: index|name|uuid|total MiB|used MiB. GPU fields sit at six
# spaces of indentation; MIG instances, deeper, are left out as nvidia-smi
# --query-gpu leaves them out.
awk '
  function value(line) { sub(/^      "[a-z_]+": /, "", line); sub(/,$/, "", line); gsub(/^"|"$/, "", line); return line }
  /^      "index": /              { index_ = value($0) }
  /^      "uuid": /               { uuid = value($0) }
  /^      "name": /               { name = value($0) }
  /^      "memory_total_bytes": / { total = value($0) }
  /^      "memory_used_bytes": /  { used = value($0) }
  /^      "error": /              { err = value($0) }
  /^      "mig_instances": /      {
      t = (total == "null") ? "null" : sprintf("%d", int(total / 1048576))
      u = (used == "null") ? "null" : sprintf("%d", int(used / 1048576))
      if (err != "null") { t = "down: " err }
      print index_ "|" name "|" uuid "|" t "|" u
  }
' "$work/inventory.json" >"$work/vramfit.txt"

awk -F', ' '{ print $1 "|" $2 "|" $3 "|" $4 "|" $5 }' "$work/smi.csv" >"$work/smi.txt"

echo "== compare (used within ${tolerance} MiB)"
status=0
if [ "$(wc -l <"$work/vramfit.txt")" -ne "$(wc -l <"$work/smi.txt")" ] || [ ! -s "$work/smi.txt" ]; then
  echo "FAIL: vramfit lists $(wc -l <"$work/vramfit.txt") GPUs, nvidia-smi $(wc -l <"$work/smi.txt")"
  status=1
fi
while IFS='|' read -r v_index v_name v_uuid v_total v_used <&3 && IFS='|' read -r s_index s_name s_uuid s_total s_used <&4; do
  problems=()
  [ "$v_index" = "$s_index" ] || problems+=("index $v_index != $s_index")
  [ "$v_name" = "$s_name" ] || problems+=("name '$v_name' != '$s_name'")
  [ "$v_uuid" = "$s_uuid" ] || problems+=("uuid $v_uuid != $s_uuid")
  [ "$v_total" = "$s_total" ] || problems+=("total ${v_total} MiB != ${s_total} MiB")
  if [[ "$v_used" =~ ^[0-9]+$ && "$s_used" =~ ^[0-9]+$ ]]; then
    diff=$((v_used - s_used))
    [ "${diff#-}" -le "$tolerance" ] || problems+=("used ${v_used} MiB vs ${s_used} MiB")
  else
    problems+=("used '${v_used}' vs '${s_used}'")
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    echo "ok   gpu $v_index $v_name $v_uuid total ${v_total} MiB used ${v_used}/${s_used} MiB"
  else
    echo "FAIL gpu $v_index: $(IFS='; '; echo "${problems[*]}")"
    status=1
  fi
done 3<"$work/vramfit.txt" 4<"$work/smi.txt"

echo "== go test ./nvml -run TestRealNVML"
if ! CGO_ENABLED=1 go test ./nvml -run 'TestRealNVML$' -count=1 -v | tee "$work/test.txt"; then
  status=1
fi
if grep -q -- '--- SKIP: TestRealNVML' "$work/test.txt"; then
  echo "FAIL: TestRealNVML skipped although nvidia-smi runs here"
  status=1
fi

if [ "$status" -eq 0 ]; then echo "gpu-check: PASS"; else echo "gpu-check: FAIL"; fi
exit "$status"
