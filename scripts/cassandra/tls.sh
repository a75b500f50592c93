# shellcheck shell=bash
# Sourced by scripts/cassandra.sh: the test CA, server and client certificates of an
# instance (CASSANDRA_TLS=1), as PEM files in $TLS_DIR. Uses TLS_DIR, NAME, IPS, log, die.

# tls_issue BASE CN EXT...: BASE-key.pem and BASE.pem (subject CN, extensions EXT), signed by the test CA.
tls_issue() {
	local d=$TLS_DIR base=$1 cn=$2
	shift 2
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/$base-key.pem" 2>>"$d/openssl.log"
	openssl req -new -key "$d/$base-key.pem" -subj "/O=ipfs-cluster-scylla tests/CN=$cn" -out "$d/$base.csr" 2>>"$d/openssl.log"
	printf '%s\n' "$@" >"$d/$base.ext"
	openssl x509 -req -in "$d/$base.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" \
		-set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 -extfile "$d/$base.ext" \
		-out "$d/$base.pem" 2>>"$d/openssl.log"
	rm -f "$d/$base.csr"
}

# gen_tls: generate what is missing (once per instance dir); the server certificate is
# redone when it does not cover every host.
gen_tls() {
	command -v openssl >/dev/null 2>&1 || die "openssl is required for CASSANDRA_TLS=1"
	local d=$TLS_DIR ip covered='' sans='DNS:localhost'
	local -a want=(127.0.0.1 127.0.0.2 127.0.0.3)
	mkdir -p "$d"
	chmod 700 "$d"
	: >"$d/openssl.log"
	for ip in "${IPS[@]}"; do
		[[ " ${want[*]} " == *" $ip "* ]] || want+=("$ip")
	done
	if [[ ! -s $d/ca.pem || ! -s $d/ca-key.pem ]]; then
		log "generating test CA in $d"
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/ca-key.pem" 2>>"$d/openssl.log"
		openssl req -x509 -new -key "$d/ca-key.pem" -sha256 -days 3650 \
			-subj "/O=ipfs-cluster-scylla tests/CN=cassandra-test-ca-$NAME" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
			-out "$d/ca.pem" 2>>"$d/openssl.log"
		rm -f "$d/server.pem" "$d/client.pem"
	fi
	[[ -f $d/server.sans ]] && covered=$(cat "$d/server.sans")
	for ip in "${want[@]}"; do
		[[ ",$covered," == *",$ip,"* ]] || rm -f "$d/server.pem"
	done
	if [[ ! -s $d/server.pem || ! -s $d/server-key.pem ]]; then
		for ip in "${want[@]}"; do sans+=",IP:$ip"; done
		log "generating server certificate (SAN $sans)"
		tls_issue server "cassandra-$NAME" "basicConstraints=CA:FALSE" \
			"keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$sans"
		# PEMBasedSslContextFactory keystore: unencrypted PKCS#8 key + certificate chain.
		cat "$d/server-key.pem" "$d/server.pem" "$d/ca.pem" >"$d/server-keystore.pem"
		(
			IFS=,
			printf '%s\n' "${want[*]}"
		) >"$d/server.sans"
	fi
	if [[ ! -s $d/client.pem || ! -s $d/client-key.pem ]]; then
		log "generating client certificate"
		tls_issue client cassandra "basicConstraints=CA:FALSE" \
			"keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=clientAuth"
	fi
	chmod 600 "$d"/*-key.pem "$d/server-keystore.pem"
	openssl verify -CAfile "$d/ca.pem" "$d/server.pem" "$d/client.pem" >>"$d/openssl.log" 2>&1 ||
		die "generated certificates do not verify (see $d/openssl.log)"
}
