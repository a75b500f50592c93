#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2034 # sharness evals the single-quoted bodies and reads test_description

test_description="ipfs-cluster-ctl: version, help, commands (mirrors upstream t0010)"

. "$(dirname "$0")/lib/test-lib.sh"

test_expect_success 'current dir is writeable' '
	echo "Writability check" >test.txt &&
	test_when_finished "rm test.txt"
'

test_expect_success CLUSTER_CTL 'ctl --version prints 1.1.5' '
	ipfs-cluster-ctl --version >version.txt &&
	grep -q "^ipfs-cluster-ctl version 1\.1\.5" version.txt
'

test_expect_success CLUSTER_CTL 'ctl help commands succeed (--help, -h, h, help)' '
	ipfs-cluster-ctl --help >help1.txt &&
	ipfs-cluster-ctl -h >help2.txt &&
	ipfs-cluster-ctl h >help3.txt &&
	ipfs-cluster-ctl help >help4.txt &&
	test_cmp help1.txt help2.txt &&
	test_cmp help1.txt help3.txt &&
	test_cmp help1.txt help4.txt
'

test_expect_success CLUSTER_CTL 'ctl help fits in 120 columns' '
	ipfs-cluster-ctl --help >help.txt &&
	LENGTH=$(awk "{ print length }" help.txt | sort -nr | head -n 1) &&
	test "$LENGTH" -le 120
'

test_expect_success CLUSTER_CTL 'ctl help output has the usual headings' '
	ipfs-cluster-ctl --help >help.txt &&
	grep -q -i "^usage" help.txt &&
	grep -q -i "^commands" help.txt &&
	grep -q -i "^global options" help.txt
'

test_expect_success CLUSTER_CTL 'ctl commands lists the main commands' '
	ipfs-cluster-ctl commands >commands.txt &&
	for c in id peers pin status recover version commands health add; do
		grep -q "^ipfs-cluster-ctl $c\$" commands.txt || { echo "missing: $c" >&2; return 1; }
	done
'

test_expect_success CLUSTER_CTL 'every ctl command help is 120 columns or less' '
	ipfs-cluster-ctl commands | awk NF >commands.txt &&
	test "$(wc -l <commands.txt)" -gt 10 &&
	failure=0 &&
	while read -r cmd; do
		# shellcheck disable=SC2086 # the line is a command with its sub-commands
		LENGTH=$($cmd --help | awk "{ print length }" | sort -nr | head -n 1) &&
		if [ "$LENGTH" -gt 120 ]; then
			echo "$cmd: help text is $LENGTH columns wide" >&2
			failure=1
		fi
	done <commands.txt &&
	test "$failure" = 0
'

test_expect_success CLUSTER_CTL 'ctl with an unknown command fails' '
	test_must_fail ipfs-cluster-ctl no-such-command
'

test_done
