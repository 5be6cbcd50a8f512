#!/usr/bin/env bash
# Without cert-manager: make a private CA and a serving certificate for the webhook Service,
# store them as the infertap-webhook-tls Secret and write the CA into the webhook's caBundle.
#
#   deploy/webhook/gen-certs.sh --out DIR            # only write ca.crt, tls.crt, tls.key to DIR
#   deploy/webhook/gen-certs.sh --out DIR --apply    # ...and install them with kubectl
#
# Apply deploy/webhook/base first. Re-run before the certificate expires (--days, default 365);
# the webhook reloads a renewed Secret without a restart.
set -euo pipefail

SERVICE=infertap-webhook
NAMESPACE=infertap-system
SECRET=infertap-webhook-tls
WEBHOOK_CONFIG=infertap-sidecar-injector
DAYS=365
OUT=""
APPLY=0

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --days) DAYS="$2"; shift 2 ;;
    --namespace) NAMESPACE="$2"; shift 2 ;;
    --apply) APPLY=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "gen-certs.sh: unknown option $1" >&2; usage 2 ;;
  esac
done
[ -n "$OUT" ] || { echo "gen-certs.sh: --out DIR is required" >&2; exit 2; }
command -v openssl >/dev/null || { echo "gen-certs.sh: openssl is required" >&2; exit 2; }

mkdir -p "$OUT"
umask 077
DNS="$SERVICE.$NAMESPACE.svc"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$DAYS" \
  -subj "/CN=infertap-webhook-ca" -keyout "$OUT/ca.key" -out "$OUT/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$DNS" \
  -keyout "$OUT/tls.key" -out "$OUT/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:%s.cluster.local\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n' \
  "$DNS" "$DNS" > "$OUT/tls.ext"
openssl x509 -req -in "$OUT/tls.csr" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" -CAcreateserial \
  -days "$DAYS" -extfile "$OUT/tls.ext" -out "$OUT/tls.crt" 2>/dev/null
rm -f "$OUT/tls.csr" "$OUT/tls.ext" "$OUT/ca.srl"
echo "wrote $OUT/ca.crt $OUT/tls.crt $OUT/tls.key (for $DNS, $DAYS days)"

if [ "$APPLY" = 1 ]; then
  kubectl -n "$NAMESPACE" create secret tls "$SECRET" --cert="$OUT/tls.crt" --key="$OUT/tls.key" \
    --dry-run=client -o yaml | kubectl apply -f -
  CA_BUNDLE=$(base64 < "$OUT/ca.crt" | tr -d '\n')
  kubectl patch mutatingwebhookconfiguration "$WEBHOOK_CONFIG" --type=json -p "[
    {\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$CA_BUNDLE\"},
    {\"op\":\"add\",\"path\":\"/webhooks/1/clientConfig/caBundle\",\"value\":\"$CA_BUNDLE\"}]"
  echo "installed Secret $NAMESPACE/$SECRET and the caBundle of $WEBHOOK_CONFIG"
fi
