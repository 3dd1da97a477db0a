# The one-shot Garage bootstrap of deploy/compose.yaml: the garage CLI (copied
# from the Garage image, a static binary) next to the AWS CLI, which sets CORS
# and lifecycle through the S3 API as on any store. See bootstrap.sh.
ARG GARAGE_IMAGE=dxflrs/garage:v2.5.0
ARG AWS_CLI_IMAGE=amazon/aws-cli:2.27.0

FROM ${GARAGE_IMAGE} AS garage

FROM ${AWS_CLI_IMAGE}
COPY --from=garage /garage /usr/local/bin/garage
COPY bootstrap.sh /usr/local/bin/garage-bootstrap
ENTRYPOINT ["bash", "/usr/local/bin/garage-bootstrap"]
CMD ["setup"]
