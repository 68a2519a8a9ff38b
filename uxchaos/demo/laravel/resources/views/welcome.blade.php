@extends('layouts.app')

@section('title', 'Home')

@section('content')
    <h1>{{ config('app.name', 'Laravel') }}</h1>
    <p>A Laravel {{ Illuminate\Foundation\Application::VERSION }} app (PHP {{ PHP_VERSION }}) for uxchaos.</p>
@endsection
