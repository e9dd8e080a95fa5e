{{/*
hookgate.podTemplate is the pod template of the StatefulSet (embedded
store) and of the Deployment (Redis).
*/}}
{{- define "hookgate.podTemplate" -}}
metadata:
  labels:
    {{- include "hookgate.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # The keys a reload does not apply (listeners, TLS paths, store,
    # log.format): a change rolls the pods. The rest the gateway re-reads
    # from the mounted ConfigMap by itself.
    checksum/restart-config: {{ include "hookgate.restartConfig" . | sha256sum }}
    {{- if .Values.rollOnConfigChange }}
    checksum/config: {{ include "hookgate.config" . | sha256sum }}
    {{- end }}
    {{- if not .Values.secrets.existingSecret }}
    # The environment is read at start only.
    checksum/secret: {{ toYaml .Values.secrets.env | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "hookgate.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  # preStop's sleep, then SIGTERM and up to -grace for in-flight deliveries,
  # then a margin before the kubelet kills.
  terminationGracePeriodSeconds: {{ add .Values.shutdown.preStopSleepSeconds .Values.shutdown.graceSeconds .Values.shutdown.marginSeconds }}
  containers:
    - name: hookgate
      image: {{ include "hookgate.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - serve
        - -config
        - /etc/hookgate/config.yaml
        - -grace
        - {{ printf "%ds" (int .Values.shutdown.graceSeconds) }}
      env:
        - name: HOOKGATE_CONFIG
          value: /etc/hookgate/config.yaml
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      envFrom:
        - secretRef:
            name: {{ include "hookgate.secretName" . }}
      ports:
        - name: http
          containerPort: {{ .Values.ports.http }}
          protocol: TCP
        - name: admin
          containerPort: {{ .Values.ports.admin }}
          protocol: TCP
      # On the public listener: it serves /healthz and /readyz without a
      # token, and it is what the Service sends traffic to.
      startupProbe:
        httpGet: {path: /healthz, port: http, scheme: {{ include "hookgate.probeScheme" . }}}
        {{- toYaml .Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet: {path: /healthz, port: http, scheme: {{ include "hookgate.probeScheme" . }}}
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet: {path: /readyz, port: http, scheme: {{ include "hookgate.probeScheme" . }}}
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      lifecycle:
        # Sleep action (no shell in the distroless image): endpoints and
        # ingress controllers drop the pod before the gateway stops listening.
        preStop:
          sleep:
            seconds: {{ .Values.shutdown.preStopSleepSeconds }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        # The directory, not a subPath: a subPath mount never sees the
        # ConfigMap change, the directory's ..data symlink swap the gateway
        # watches for.
        - name: config
          mountPath: /etc/hookgate
          readOnly: true
        {{- if include "hookgate.embedded" . }}
        - name: data
          mountPath: /data
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "hookgate.fullname" . }}
    {{- if include "hookgate.embedded" . }}
    - name: data
      persistentVolumeClaim:
        claimName: {{ include "hookgate.claimName" . }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
