#!/bin/sh
# Entry script of docker-compose.p2p.yml.
#   compose-init.sh init          (init service) create one identity per site volume, the signed
#                                 manifest and a peers file in the shared /consortium volume.
#   compose-init.sh node NAME I   (node services) wait for the manifest, then
#                                 `flnode start --sites 3 --site I` dialing the other sites by
#                                 service name (/dns4/node-x/tcp/4001/p2p/<id> from the peers file).
set -eu
FLNODE="${FLNODE_CMD:-node /app/bin/flnode.mjs}"
SHARED="${FLNODE_SHARED:-/consortium}"
SITES_ROOT="${FLNODE_SITES_ROOT:-/sites}"
SITE_DIR="${FLNODE_SITE_DIR:-/site}"
# the admin key stays in the init service's own volume, never in one the nodes mount
ADMIN_KEY="${FLNODE_ADMIN_KEY:-/admin/admin.key}"
SITES="node-a node-b node-c"
ROUNDS="${FLNODE_ROUNDS:-3}"
CONSORTIUM="${FLNODE_CONSORTIUM:-compose-p2p}"

peer_id() { # $1 = site dir → peer id (from `flnode init --json`, written by the init step)
  cat "$1/peer-id"
}

case "${1:-}" in
  init)
    if [ -f "$SHARED/manifest.json" ]; then
      echo "compose-init: $SHARED/manifest.json already exists; keeping it"
      exit 0
    fi
    : > "$SHARED/peers.tmp"
    for s in $SITES; do
      dir="$SITES_ROOT/$s"
      mkdir -p "$dir"
      if [ ! -f "$dir/identity.key" ]; then
        $FLNODE init --dir "$dir" --json | sed -n 's/.*"peerId" *: *"\([^"]*\)".*/\1/p' > "$dir/peer-id.tmp"
        [ -s "$dir/peer-id.tmp" ] || { echo "compose-init: flnode init printed no peer id for $s" >&2; exit 1; }
        mv "$dir/peer-id.tmp" "$dir/peer-id"
      fi
      echo "$s $(peer_id "$dir")" >> "$SHARED/peers.tmp"
    done
    $FLNODE consortium create --id "$CONSORTIUM" --out "$SHARED/manifest.unsigned.json" --admin-key "$ADMIN_KEY" --rounds "$ROUNDS"
    while read -r s id; do
      # each site trains on its third of PneumoniaMNIST's 4708 training images (1570 at most)
      $FLNODE consortium add-member --manifest "$SHARED/manifest.unsigned.json" --name "$s" --peer-id "$id" --max-samples "${MAX_SAMPLES:-1570}"
    done < "$SHARED/peers.tmp"
    $FLNODE consortium sign --manifest "$SHARED/manifest.unsigned.json" --admin-key "$ADMIN_KEY"
    mv "$SHARED/peers.tmp" "$SHARED/peers"
    mv "$SHARED/manifest.unsigned.json" "$SHARED/manifest.json"
    echo "compose-init: consortium $CONSORTIUM with $(wc -l < "$SHARED/peers") members"
    ;;
  node)
    name="$2"
    index="$3"
    shift 3
    i=0
    while [ ! -f "$SHARED/manifest.json" ] || [ ! -f "$SHARED/peers" ]; do
      i=$((i + 1))
      if [ "$i" -gt "${FLNODE_WAIT_S:-120}" ]; then echo "compose-init: no manifest in $SHARED after ${FLNODE_WAIT_S:-120} s" >&2; exit 1; fi
      sleep 1
    done
    peers=""
    while read -r s id; do
      [ "$s" = "$name" ] && continue
      addr="/dns4/$s/tcp/4001/p2p/$id"
      if [ -z "$peers" ]; then peers="$addr"; else peers="$peers,$addr"; fi
    done < "$SHARED/peers"
    run=exec
    [ -z "${FLNODE_DRY_RUN:-}" ] || run=echo
    $run $FLNODE start --dir "$SITE_DIR" --manifest "$SHARED/manifest.json" --data "${FLNODE_DATA:-/data/pneumoniamnist.npz}" \
      --listen /ip4/0.0.0.0/tcp/4001 --peers "$peers" --http 0.0.0.0:8600 --sites 3 --site "$index" "$@"
    ;;
  *)
    echo "usage: compose-init.sh init | node NAME INDEX [flnode start options]" >&2
    exit 2
    ;;
esac
