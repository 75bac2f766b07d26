#!/usr/bin/env bash
# Packages the binaries `make release` built into dist/: a tarball and a .deb per
# architecture, and SHA256SUMS over them; then checks what it made with the tools a user
# would use (sha256sum -c, file, dpkg-deb). Usage: scripts/release.sh VERSION ARCH...
# with out/linux-ARCH/vramfit built for each ARCH.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$1
shift
dist=dist
rm -rf "$dist"
mkdir -p "$dist"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# Reproducible archives: the commit's time, not the build's, and no builder's names.
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tar_flags=(--sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner)

for arch in "$@"; do
  binary=out/linux-$arch/vramfit

  # The tarball, as Prometheus exporters ship: the binary and what installs it by hand.
  name=vramfit-$version.linux-$arch
  dir=$stage/$name
  mkdir -p "$dir/examples" "$dir/systemd"
  install -m 0755 "$binary" "$dir/vramfit"
  install -m 0644 LICENSE README.md "$dir/"
  install -m 0644 deploy/examples/targets.yml deploy/examples/web-config.yml "$dir/examples/"
  install -m 0644 deploy/systemd/vramfit.service deploy/systemd/vramfit.socket deploy/systemd/vramfit.env "$dir/systemd/"
  tar -C "$stage" "${tar_flags[@]}" -czf "$dist/$name.tar.gz" "$name"

  # The .deb: the binary in /usr/bin, so the unit's ExecStart is changed to match.
  root=$stage/deb-$arch
  install -D -m 0755 "$binary" "$root/usr/bin/vramfit"
  install -d "$root/usr/lib/systemd/system"
  sed 's|^ExecStart=/usr/local/bin/vramfit |ExecStart=/usr/bin/vramfit |' deploy/systemd/vramfit.service \
    >"$root/usr/lib/systemd/system/vramfit.service"
  grep -q '^ExecStart=/usr/bin/vramfit ' "$root/usr/lib/systemd/system/vramfit.service"
  install -m 0644 deploy/systemd/vramfit.socket "$root/usr/lib/systemd/system/"
  install -D -m 0644 deploy/systemd/vramfit.env "$root/etc/default/vramfit"
  install -D -m 0644 deploy/examples/targets.yml "$root/etc/vramfit/targets.yml"
  install -D -m 0644 deploy/examples/web-config.yml "$root/usr/share/doc/vramfit/examples/web-config.yml"
  install -m 0644 LICENSE "$root/usr/share/doc/vramfit/copyright"
  install -d "$root/DEBIAN"
  cat >"$root/DEBIAN/control" <<CONTROL
Package: vramfit
Version: $version
Architecture: $arch
Maintainer: vramfit developers
Depends: libc6
Section: net
Priority: optional
Homepage: https://github.com/vramfit/vramfit
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Description: GPU memory fit of planned models (Prometheus exporter)
 vramfit reads each NVIDIA GPU's memory through NVML, holds it against the models
 planned to run there and exports for each whether it fits, its headroom and the
 GPUs it needs. The service is installed but not started: edit
 /etc/vramfit/targets.yml, then systemctl enable --now vramfit (or vramfit.socket).
CONTROL
  printf '%s\n' /etc/default/vramfit /etc/vramfit/targets.yml >"$root/DEBIAN/conffiles"
  # systemd learns of the units; nothing starts until the targets are the operator's.
  for script in postinst postrm; do
    printf '#!/bin/sh\nset -e\nif [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi\n' \
      >"$root/DEBIAN/$script"
    chmod 0755 "$root/DEBIAN/$script"
  done
  SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$root" "$dist/vramfit_${version}_$arch.deb" >/dev/null
done

(cd "$dist" && sha256sum -- *.tar.gz *.deb >SHA256SUMS)

# The checks: the sums verify; each binary is a dynamically linked (cgo, glibc) ELF of its
# architecture; each .deb holds what it should, for its architecture.
(cd "$dist" && sha256sum -c SHA256SUMS)
declare -A machine=([amd64]=x86-64 [arm64]=aarch64)
for arch in "$@"; do
  name=vramfit-$version.linux-$arch
  tar -xzf "$dist/$name.tar.gz" -C "$stage" "$name/vramfit"
  desc=$(file -b "$stage/$name/vramfit")
  echo "$name/vramfit: $desc"
  [[ $desc == ELF\ 64-bit*${machine[$arch]}*dynamically\ linked* ]] || {
    echo "release: $name/vramfit is not a dynamically linked ${machine[$arch]} ELF" >&2; exit 1; }
  # The host's own architecture also runs: it loads its shared libraries and knows its version.
  if [[ $arch == "$(dpkg --print-architecture)" ]]; then
    "$stage/$name/vramfit" --version 2>&1 | grep -q "^vramfit, version $version " || {
      echo "release: $name/vramfit --version does not say $version" >&2; exit 1; }
  fi
  deb=$dist/vramfit_${version}_$arch.deb
  [[ $(dpkg-deb -f "$deb" Architecture) == "$arch" ]] || { echo "release: $deb: wrong Architecture" >&2; exit 1; }
  contents=$(dpkg-deb -c "$deb")
  for f in ./usr/bin/vramfit ./usr/lib/systemd/system/vramfit.service ./usr/lib/systemd/system/vramfit.socket \
    ./etc/default/vramfit ./etc/vramfit/targets.yml; do
    grep -q " $f\$" <<<"$contents" || { echo "release: $deb lacks $f" >&2; exit 1; }
  done
done
ls -l "$dist"
