# A Service as a kubernetes_manifest (the provider's server-side-apply resource), selecting
# the pods of ../slicedemo's Deployment, for tests/integration/test_terraform.py.
terraform {
  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "3.2.1"
    }
  }
}

variable "kubeconfig" {
  type = string
}

variable "namespace" {
  type = string
}

variable "app" {
  type = string
}

provider "kubernetes" {
  config_path = var.kubeconfig
}

resource "kubernetes_manifest" "svc" {
  manifest = {
    apiVersion = "v1"
    kind       = "Service"
    metadata = {
      name      = "${var.app}-manifest"
      namespace = var.namespace
    }
    spec = {
      selector = { app = var.app }
      ports = [{
        name       = "http"
        port       = 80
        targetPort = 80
        protocol   = "TCP"
      }]
    }
  }
}
