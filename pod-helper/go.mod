module mlpipe.dev/pod-helper

go 1.22
