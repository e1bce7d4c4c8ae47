# A Deployment and a Service through the Terraform kubernetes provider, for
# tests/integration/test_terraform.py: the replica count and the Service's selector are
# variables, the provider is configured from the cluster's kubeconfig.
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

variable "name" {
  type    = string
  default = "web"
}

variable "replicas" {
  type    = number
  default = 2
}

variable "selector" {
  type    = map(string)
  default = null
}

provider "kubernetes" {
  config_path = var.kubeconfig
}

resource "kubernetes_namespace_v1" "demo" {
  metadata {
    name = var.namespace
  }
}

resource "kubernetes_deployment_v1" "web" {
  metadata {
    name      = var.name
    namespace = kubernetes_namespace_v1.demo.metadata[0].name
    labels    = { app = var.name }
  }
  spec {
    replicas = var.replicas
    selector {
      match_labels = { app = var.name }
    }
    template {
      metadata {
        labels = { app = var.name }
      }
      spec {
        container {
          name  = "web"
          image = "nginx:1.27"
          port {
            container_port = 80
          }
        }
      }
    }
  }
}

resource "kubernetes_service_v1" "web" {
  metadata {
    name      = var.name
    namespace = kubernetes_namespace_v1.demo.metadata[0].name
  }
  spec {
    selector = coalesce(var.selector, { app = var.name })
    port {
      name        = "http"
      port        = 80
      target_port = 80
    }
  }
}

output "cluster_ip" {
  value = kubernetes_service_v1.web.spec[0].cluster_ip
}
