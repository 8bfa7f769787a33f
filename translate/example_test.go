package translate_test

import (
	"fmt"
	"os"

	"github.com/ferryhq/ferry/translate"
)

func ExampleParse() {
	_, err := translate.Parse([]byte(`
name: Web
image: nginx:1.27
ports:
  - container: 80
  - container: 70000
resources:
  limits:
    memory: 512M
`))
	fmt.Println(err)
	// Output:
	// name: "Web" is not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, ending with a letter or digit)
	// ports[1].container: 70000 is not a port (1-65535)
	// resources.limits.memory: "512M" is ambiguous: Compose reads M as a power of 2, Kubernetes as a power of 10; write 512Mi (binary)
}

func ExampleToCompose() {
	app := &translate.App{
		Name:  "web",
		Image: "nginx:1.27",
		Ports: []translate.Port{{Container: 80, Host: 8080}},
		Env:   map[string]string{"GREETING": "costs $5"},
	}
	files, err := translate.ToCompose(app)
	if err != nil {
		fmt.Println(err)
		return
	}
	os.Stdout.Write(files[0].Data)
	// Output:
	// name: web
	// services:
	//   web:
	//     image: nginx:1.27
	//     environment:
	//       GREETING: costs $$5
	//     ports:
	//       - target: 80
	//         published: 8080
	//         protocol: tcp
	//     deploy:
	//       update_config:
	//         order: start-first
	//     restart: unless-stopped
	//     labels:
	//       app.kubernetes.io/instance: web
	//       app.kubernetes.io/managed-by: ferry
	//       app.kubernetes.io/name: web
	//     networks:
	//       ferry: {}
	// networks:
	//   ferry:
	//     name: ferry
	//     external: true
}

func ExampleToCompose_secrets() {
	app := &translate.App{
		Name:    "api",
		Image:   "example/api:1",
		Secrets: []translate.Secret{{Name: "token", Value: "s3cr$t", Env: "API_TOKEN"}},
	}
	files, _ := translate.ToCompose(app)
	for _, f := range files[1:] {
		fmt.Printf("%s %v secret=%v\n", f.Path, f.Mode, f.Secret)
	}
	// Output:
	// secrets.env -rw------- secret=true
}

func ExampleToKubernetes() {
	app := &translate.App{
		Name:      "web",
		Image:     "nginx:1.27",
		Resources: translate.Resources{Limits: translate.Quantity{CPU: "0.5", Memory: "512m"}},
	}
	out, err := translate.ToKubernetes(app, translate.WithNamespace("shop"))
	if err != nil {
		fmt.Println(err)
		return
	}
	os.Stdout.Write(out)
	// Output:
	// apiVersion: apps/v1
	// kind: Deployment
	// metadata:
	//   name: web
	//   namespace: shop
	//   labels:
	//     app.kubernetes.io/instance: web
	//     app.kubernetes.io/managed-by: ferry
	//     app.kubernetes.io/name: web
	// spec:
	//   replicas: 1
	//   selector:
	//     matchLabels:
	//       app.kubernetes.io/instance: web
	//       app.kubernetes.io/name: web
	//   strategy:
	//     type: RollingUpdate
	//     rollingUpdate:
	//       maxUnavailable: 0
	//   template:
	//     metadata:
	//       labels:
	//         app.kubernetes.io/instance: web
	//         app.kubernetes.io/managed-by: ferry
	//         app.kubernetes.io/name: web
	//       annotations:
	//         ferry.dev/config-hash: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
	//     spec:
	//       enableServiceLinks: false
	//       containers:
	//         - name: web
	//           image: nginx:1.27
	//           resources:
	//             limits:
	//               cpu: 500m
	//               memory: 512Mi
}

func ExampleParseBytes() {
	for _, s := range []string{"512m", "512Mi", "1g", "512M", "1.5Gi"} {
		n, err := translate.ParseBytes(s)
		fmt.Println(n, err)
	}
	// Output:
	// 536870912 <nil>
	// 536870912 <nil>
	// 1073741824 <nil>
	// 0 "512M" is ambiguous: Compose reads M as a power of 2, Kubernetes as a power of 10; write 512Mi (binary)
	// 0 "1.5Gi": fractions are not accepted; use a smaller unit (1536Mi, not 1.5Gi)
}

func ExampleParseCPU() {
	for _, s := range []string{"0.5", "2", "250m", "0.0001"} {
		n, err := translate.ParseCPU(s)
		fmt.Println(n, err)
	}
	// Output:
	// 500 <nil>
	// 2000 <nil>
	// 250 <nil>
	// 0 "0.0001" is finer than one millicore (0.001)
}
