#!/bin/sh
# The stack's secrets, one file each, in ${1:-./secrets} (docker/README.md). An existing file is
# kept: above all the master key, which every stored asset is encrypted under (a new one would
# leave them unreadable). Needs python3 and openssl. The folder is 0700 (no other user of this
# host reads them) and the files 0644: compose bind-mounts each file as it is, and the containers
# read them as their own users (tusd, postgres), not as root.
set -eu
dir=${1:-./secrets}
mkdir -p "$dir" && chmod 700 "$dir"
umask 022

make() {  # make NAME COMMAND...: write the command's output to NAME unless NAME exists
  name=$1; shift
  if [ -e "$dir/$name" ]; then echo "kept $dir/$name"; return; fi
  "$@" > "$dir/$name"
  echo "made $dir/$name"
}

# the master key file, in the format tusd-py reads (TUSD_MASTER_KEY_FILE): its id doubles as a checksum
make master_key python3 -c 'import hashlib, secrets
key = secrets.token_bytes(32)
print("# tusd-py master key (AES-256). Back it up: without it no stored asset can be decrypted.")
print("id=local-" + hashlib.sha256(b"tusd-py kek id\0" + key).hexdigest()[:16])
print("key=" + key.hex())'
make tusd_jwt_secret openssl rand -hex 32
make aws_access_key_id printf tusd
make aws_secret_access_key openssl rand -hex 24
make pgpassword openssl rand -hex 16
