from ${{ values.package }}.app import SERVICE, create_app


def test_health_answers_ok():
    client = create_app().test_client()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok"


def test_index_names_the_service():
    assert create_app().test_client().get("/").get_json() == {"service": SERVICE}
    assert SERVICE == "${{ values.name }}"
