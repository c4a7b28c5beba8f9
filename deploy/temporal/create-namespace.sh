#!/bin/sh
# One-shot (the `temporal-namespace` service, temporalio/admin-tools): register the
# namespace Punchcard uses (PUNCHCARD_TEMPORAL_NAMESPACE) once the server answers.
# `punchcard up` gets its namespace from the dev server; a real server starts with none.
set -eu

: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}"
RETENTION="${NAMESPACE_RETENTION:-30d}"

# The CLI is given an IPv4 address: the service name may also resolve to an IPv6 address
# the server does not listen on.
host="${TEMPORAL_ADDRESS%:*}"
port="${TEMPORAL_ADDRESS##*:}"
ip="$(getent ahostsv4 "$host" 2>/dev/null | awk 'NR == 1 { print $1 }')" || ip=""
address="${ip:-$host}:$port"

tries=0
until temporal operator cluster health --address "$address"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "Temporal at $TEMPORAL_ADDRESS did not become healthy" >&2
        exit 1
    fi
    sleep 2
done

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$address" >/dev/null 2>&1; then
    echo "namespace $NAMESPACE exists"
else
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
        --address "$address"
    echo "created namespace $NAMESPACE (retention $RETENTION)"
fi

# Punchcard's search attributes (workflows/visibility.py; tests/deploy holds the two lists
# equal). Creating one that exists with the same type changes nothing, so a re-run is safe.
for spec in \
    PunchcardClientIds=KeywordList \
    PunchcardStatus=Keyword \
    PunchcardPackageType=Keyword \
    PunchcardRemaining=Int \
    PunchcardGoodThrough=Datetime \
    PunchcardLocation=Keyword; do
    temporal operator search-attribute create --namespace "$NAMESPACE" \
        --name "${spec%%=*}" --type "${spec#*=}" --address "$address"
done
echo "search attributes registered on $NAMESPACE"
