// Command etcd is etcd v3.6 built from Go modules for the local test cluster (scripts/kube.ts).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
