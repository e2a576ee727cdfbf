{{/* Names and labels. */}}
{{- define "mcp-gatekeeper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mcp-gatekeeper.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mcp-gatekeeper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-gatekeeper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mcp-gatekeeper.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mcp-gatekeeper.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mcp-gatekeeper
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "mcp-gatekeeper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mcp-gatekeeper.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mcp-gatekeeper.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The Service's in-cluster address, for auth-url / ext-auth backends. */}}
{{- define "mcp-gatekeeper.serviceHost" -}}
{{- printf "%s.%s.svc.cluster.local" (include "mcp-gatekeeper.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* Where the configuration file and the secret files are mounted in the container. */}}
{{- define "mcp-gatekeeper.configDir" -}}/etc/mcp-gatekeeper{{- end -}}
{{- define "mcp-gatekeeper.secretsDir" -}}/etc/mcp-gatekeeper/secrets{{- end -}}
{{- define "mcp-gatekeeper.stateDir" -}}/var/lib/mcp-gatekeeper{{- end -}}

{{/* memory | redis | sqlite, from the scheme of store.url. */}}
{{- define "mcp-gatekeeper.storeKind" -}}
{{- $url := .Values.store.url -}}
{{- if not $url -}}memory
{{- else if regexMatch "^rediss?://" $url -}}redis
{{- else if hasPrefix "sqlite:" $url -}}sqlite
{{- else -}}{{ fail (printf "store.url %q: use redis://, rediss:// or sqlite:" $url) }}
{{- end -}}
{{- end -}}

{{/* The header family that names the MCP host on the gateway's auth request. */}}
{{- define "mcp-gatekeeper.trustedHostHeaders" -}}
{{- if .Values.proxy.trustedHostHeaders -}}{{ .Values.proxy.trustedHostHeaders }}
{{- else if .Values.ingress.enabled -}}x-original-url
{{- else -}}host
{{- end -}}
{{- end -}}

{{/* The authorization-server paths: files/authorization-server-paths.json is the output of
`mcp-gatekeeper paths` (a test keeps the two equal). */}}
{{- define "mcp-gatekeeper.pathsJSON" -}}
{{- .Files.Get "files/authorization-server-paths.json" -}}
{{- end -}}

{{/* Host names (no port) on which the authorization-server paths are routed: every MCP host,
and the central issuer's host when proxy.issuer is set. JSON list. */}}
{{- define "mcp-gatekeeper.routedHosts" -}}
{{- $hosts := list -}}
{{- range .Values.proxy.hosts -}}
{{- $hosts = append $hosts (regexReplaceAll ":[0-9]+$" .host "") -}}
{{- end -}}
{{- with .Values.proxy.issuer -}}
{{- $hosts = append $hosts (regexReplaceAll ":[0-9]+$" (regexReplaceAll "^https?://" . "") "") -}}
{{- end -}}
{{- $hosts | uniq | toJson -}}
{{- end -}}

{{/* A DNS-label-safe suffix for per-host object names. */}}
{{- define "mcp-gatekeeper.hostSlug" -}}
{{- regexReplaceAll "[^a-z0-9-]+" (lower .) "-" | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Whether the chart's own Secret carries a given inline secret. */}}
{{- define "mcp-gatekeeper.inlineClientSecret" -}}
{{- if and .Values.provider.clientSecret (not .Values.provider.existingSecret) -}}true{{- end -}}
{{- end -}}
{{- define "mcp-gatekeeper.inlineEncryptionKey" -}}
{{- if and .Values.store.encryptionKey (not .Values.store.encryptionKeyExistingSecret) -}}true{{- end -}}
{{- end -}}
{{- define "mcp-gatekeeper.storeURLFromSecret" -}}
{{- if and .Values.store.existingSecret (ne (include "mcp-gatekeeper.storeKind" .) "memory") -}}true{{- end -}}
{{- end -}}
{{- define "mcp-gatekeeper.encryptionKeySet" -}}
{{- if or .Values.store.encryptionKey .Values.store.encryptionKeyExistingSecret -}}true{{- end -}}
{{- end -}}

{{/* The configuration file: only what the values set; every secret is a ...File reference to the
projected volume, never a value. */}}
{{- define "mcp-gatekeeper.config" -}}
{{- $v := .Values -}}
{{- $secrets := include "mcp-gatekeeper.secretsDir" . -}}
{{- $p := $v.provider -}}
{{- $provider := dict "name" $p.name "clientID" $p.clientID "clientSecretFile" (printf "%s/client-secret" $secrets) -}}
{{- with $p.issuerURL }}{{ $_ := set $provider "issuerURL" . }}{{ end -}}
{{- with $p.scopes }}{{ $_ := set $provider "scopes" . }}{{ end -}}
{{- if ne $p.groupsClaim "groups" }}{{ $_ := set $provider "groupsClaim" $p.groupsClaim }}{{ end -}}
{{- with $p.organization }}{{ $_ := set $provider "organization" . }}{{ end -}}
{{- with $p.allowedEmailDomains }}{{ $_ := set $provider "allowedEmailDomains" . }}{{ end -}}
{{- with $p.allowedEmails }}{{ $_ := set $provider "allowedEmails" . }}{{ end -}}
{{- with $p.allowedGroups }}{{ $_ := set $provider "allowedGroups" . }}{{ end -}}
{{- $github := dict -}}
{{- with $p.github.webURL }}{{ $_ := set $github "webURL" . }}{{ end -}}
{{- with $p.github.apiURL }}{{ $_ := set $github "apiURL" . }}{{ end -}}
{{- if $github }}{{ $_ := set $provider "github" $github }}{{ end -}}
{{- $google := dict -}}
{{- with $p.google.hostedDomain }}{{ $_ := set $google "hostedDomain" . }}{{ end -}}
{{- with $p.google.adminEmail }}{{ $_ := set $google "adminEmail" . }}{{ end -}}
{{- if $p.google.serviceAccountKey.existingSecret }}{{ $_ := set $google "serviceAccountKeyFile" (printf "%s/google-service-account.json" $secrets) }}{{ end -}}
{{- if $google }}{{ $_ := set $provider "google" $google }}{{ end -}}
{{- $x := $v.proxy -}}
{{- $proxy := dict "hosts" $x.hosts "trustedHostHeaders" (include "mcp-gatekeeper.trustedHostHeaders" .) "identityHeaders" $x.identityHeaders "rejectClientIdentityHeaders" $x.rejectClientIdentityHeaders "disableConsentScreen" $x.disableConsentScreen -}}
{{- with $x.issuer }}{{ $_ := set $proxy "issuer" . }}{{ end -}}
{{- with $x.allowedRedirectURLs }}{{ $_ := set $proxy "allowedRedirectURLs" . }}{{ end -}}
{{- $server := dict "host" "0.0.0.0" "port" 8080 "logLevel" $v.server.logLevel "denyLogRate" $v.server.denyLogRate -}}
{{- if ne (int $v.server.workers) 1 }}{{ $_ := set $server "workers" (int $v.server.workers) }}{{ end -}}
{{- if $v.admin.existingSecret }}{{ $_ := set $server "adminTokenFile" (printf "%s/admin-token" $secrets) }}{{ end -}}
{{- $config := dict "provider" $provider "proxy" $proxy "server" $server -}}
{{- with $v.tokens }}{{ $_ := set $config "tokens" . }}{{ end -}}
{{- with $v.clients }}{{ $_ := set $config "clients" . }}{{ end -}}
{{- $kind := include "mcp-gatekeeper.storeKind" . -}}
{{- if ne $kind "memory" -}}
{{- $store := dict -}}
{{- if include "mcp-gatekeeper.storeURLFromSecret" . -}}
{{- $_ := set $store "urlFile" (printf "%s/store-url" $secrets) -}}
{{- else -}}
{{- $_ := set $store "url" $v.store.url -}}
{{- end -}}
{{- if include "mcp-gatekeeper.encryptionKeySet" . -}}
{{- $_ := set $store "encryptionKeyFile" (printf "%s/store-encryption-key" $secrets) -}}
{{- end -}}
{{- $_ := set $config "store" $store -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
