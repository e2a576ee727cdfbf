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
{{- if or (not $url) (eq $url "memory://") -}}memory
{{- else if hasPrefix "sqlite:" $url -}}sqlite
{{- else if regexMatch "^(rediss?|unix|redis\\+sentinel|redis\\+cluster)://" $url -}}redis
{{- else -}}{{ fail (printf "store.url %q: use sqlite:///..., redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://" $url) }}
{{- end -}}
{{- end -}}

{{/* The header family that names the MCP host on the gateway's auth request. */}}
{{- define "mcp-gatekeeper.trustedHostHeaders" -}}
{{- if .Values.proxy.trustedHostHeaders -}}{{ .Values.proxy.trustedHostHeaders }}
{{- else if .Values.ingress.enabled -}}query
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

{{/* Secret files in the projected volume: name -> {secret, key}. Inline values live in the
chart's own Secret under the same name; an existing Secret wins over an inline value. JSON. */}}
{{- define "mcp-gatekeeper.secretFiles" -}}
{{- $v := .Values -}}
{{- $own := include "mcp-gatekeeper.fullname" . -}}
{{- $files := dict -}}
{{- if $v.provider.existingSecret -}}
{{- $_ := set $files "client-secret" (dict "secret" $v.provider.existingSecret "key" $v.provider.existingSecretKey) -}}
{{- else if $v.provider.clientSecret -}}
{{- $_ := set $files "client-secret" (dict "secret" $own "key" "client-secret" "value" $v.provider.clientSecret) -}}
{{- end -}}
{{- with $v.provider.google.serviceAccountKey.existingSecret -}}
{{- $_ := set $files "google-service-account.json" (dict "secret" . "key" $v.provider.google.serviceAccountKey.key) -}}
{{- end -}}
{{- with $v.admin.existingSecret -}}
{{- $_ := set $files "admin-token" (dict "secret" . "key" $v.admin.existingSecretKey) -}}
{{- end -}}
{{- if ne (include "mcp-gatekeeper.storeKind" .) "memory" -}}
{{- if $v.store.existingSecret -}}
{{- $_ := set $files "store-password" (dict "secret" $v.store.existingSecret "key" $v.store.existingSecretKey) -}}
{{- else if $v.store.password -}}
{{- $_ := set $files "store-password" (dict "secret" $own "key" "store-password" "value" $v.store.password) -}}
{{- end -}}
{{- if $v.store.encryptionKeyExistingSecret -}}
{{- $_ := set $files "store-encryption-key" (dict "secret" $v.store.encryptionKeyExistingSecret "key" $v.store.encryptionKeyExistingSecretKey) -}}
{{- with $v.store.previousEncryptionKeysExistingSecretKey -}}
{{- $_ := set $files "store-previous-encryption-keys" (dict "secret" $v.store.encryptionKeyExistingSecret "key" .) -}}
{{- end -}}
{{- else if $v.store.encryptionKey -}}
{{- $_ := set $files "store-encryption-key" (dict "secret" $own "key" "store-encryption-key" "value" $v.store.encryptionKey) -}}
{{- end -}}
{{- end -}}
{{- toJson $files -}}
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
{{- with $p.copyClaims }}{{ $_ := set $provider "copyClaims" . }}{{ end -}}
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
{{- if $v.server.maxHeaderBytes }}{{ $_ := set $server "maxHeaderBytes" (int $v.server.maxHeaderBytes) }}{{ end -}}
{{- if $v.admin.existingSecret }}{{ $_ := set $server "adminTokenFile" (printf "%s/admin-token" $secrets) }}{{ end -}}
{{- $config := dict "provider" $provider "proxy" $proxy "server" $server -}}
{{- with $v.tokens }}{{ $_ := set $config "tokens" . }}{{ end -}}
{{- with $v.clients }}{{ $_ := set $config "clients" . }}{{ end -}}
{{- with $v.grants }}{{ $_ := set $config "grants" . }}{{ end -}}
{{- with $v.tracing }}{{ $_ := set $config "tracing" . }}{{ end -}}
{{- $files := include "mcp-gatekeeper.secretFiles" . | fromJson -}}
{{- if ne (include "mcp-gatekeeper.storeKind" .) "memory" -}}
{{- $st := $v.store -}}
{{- $store := dict "url" $st.url -}}
{{- with $st.username }}{{ $_ := set $store "username" . }}{{ end -}}
{{- if hasKey $files "store-password" }}{{ $_ := set $store "passwordFile" (printf "%s/store-password" $secrets) }}{{ end -}}
{{- if hasKey $files "store-encryption-key" }}{{ $_ := set $store "encryptionKeyFile" (printf "%s/store-encryption-key" $secrets) }}{{ end -}}
{{- if hasKey $files "store-previous-encryption-keys" }}{{ $_ := set $store "previousEncryptionKeysFile" (printf "%s/store-previous-encryption-keys" $secrets) }}{{ end -}}
{{- with $st.caFile }}{{ $_ := set $store "caFile" . }}{{ end -}}
{{- with $st.keyPrefix }}{{ $_ := set $store "keyPrefix" . }}{{ end -}}
{{- with $st.pollInterval }}{{ $_ := set $store "pollInterval" . }}{{ end -}}
{{- with $st.timeout }}{{ $_ := set $store "timeout" . }}{{ end -}}
{{- $_ := set $config "store" $store -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
