#!/usr/bin/env bash
# Make sure the Java SOAP tools the interoperability tests load our WSDLs with are installed: wsdl4j (the WSDL
# reader under Axis2 and CXF) and the JAX-WS RI's wsimport (WSDL -> JAXB xjc -> javac), both from Debian.
# tests/xdsservice/test_wsdl_clients.py skips when they are missing and cannot be installed here.
set -euo pipefail
if [ -f /usr/share/java/wsdl4j.jar ] && command -v wsimport >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's libwsdl4j-java and jaxws (wsimport) for the tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq default-jdk-headless libwsdl4j-java jaxws >/dev/null
else
  echo "wsdl4j / wsimport are not installed and cannot be installed here; their tests will be skipped" >&2
fi
