#!/bin/sh
# Generates the certificates of the TLS tests (tests/check_tls.c) into DIR with openssl(1):
#   sh tests/certs.sh DIR
#
#   ca.pem ca.key              the test CA
#   server.pem server.key      localhost, DNS:localhost and IP:127.0.0.1, signed by the CA
#   client.pem client.key      a client certificate signed by the CA (for mutual TLS)
#   client-enc.key             client.key encrypted with AES-256 and the password in
#                              client-enc.pass
#   wrongca.pem wrongca.key    a second CA that signed nothing the tests trust
#   wronghost.pem .key         signed by the CA for DNS:wrong.example.com only
#   expired.pem expired.key    localhost/127.0.0.1, signed by the CA, expired in 2001
#   untrusted.pem .key         localhost/127.0.0.1, signed by the wrong CA
# Keys are EC P-256 (fast to make). Exits non-zero when openssl fails.
set -eu
dir=${1:?usage: certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

newkey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# ca NAME CN: a self-signed CA certificate valid for ten years.
ca() {
    newkey "$1.key"
    openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem" 2>/dev/null
}

# leaf NAME CN SAN CA [extra x509 args]: a certificate for SAN signed by CA.
leaf() {
    name=$1 cn=$2 san=$3 signer=$4
    shift 4
    newkey "$name.key"
    openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' \
        "$san" >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA "$signer.pem" -CAkey "$signer.key" \
        -CAcreateserial -sha256 -extfile "$name.ext" -out "$name.pem" "$@" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
}

ca ca "kafkatx test CA"
ca wrongca "kafkatx wrong CA"
leaf server localhost "DNS:localhost,IP:127.0.0.1" ca -days 3650
leaf client "kafkatx client" "DNS:client.kafkatx.test" ca -days 3650
leaf wronghost wrong.example.com "DNS:wrong.example.com" ca -days 3650
leaf untrusted localhost "DNS:localhost,IP:127.0.0.1" wrongca -days 3650

# An expired certificate: signed with a validity window that ended in 2001.
newkey expired.key
openssl req -new -key expired.key -subj "/CN=localhost" -out expired.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >expired.ext
if openssl x509 -help 2>&1 | grep -q -- '-not_before'; then
    openssl x509 -req -in expired.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 \
        -extfile expired.ext -not_before 20000101000000Z -not_after 20010101000000Z \
        -out expired.pem 2>/dev/null
else
    # OpenSSL 3.0's x509 has no -not_before: use ca(1) with an explicit window.
    mkdir -p expired-ca
    : >expired-ca/index.txt
    echo 01 >expired-ca/serial
    cat >expired-ca/ca.cnf <<EOF
[ca]
default_ca = test
[test]
database = expired-ca/index.txt
serial = expired-ca/serial
new_certs_dir = expired-ca
default_md = sha256
policy = anything
copy_extensions = none
[anything]
commonName = supplied
[ext]
subjectAltName = DNS:localhost,IP:127.0.0.1
EOF
    openssl ca -batch -config expired-ca/ca.cnf -cert ca.pem -keyfile ca.key \
        -startdate 20000101000000Z -enddate 20010101000000Z -extensions ext \
        -in expired.csr -out expired.pem -notext 2>/dev/null
    rm -rf expired-ca
fi
rm -f expired.csr expired.ext

# The client key encrypted with a password.
printf 'k3y-Pa55phrase-7431' >client-enc.pass
openssl pkey -in client.key -aes256 -passout file:client-enc.pass -out client-enc.key
rm -f ./*.srl
